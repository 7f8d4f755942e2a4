"""The data stage materialized for real: Dagster + Delta tables + Great Expectations."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec


def _table(home: Path, project: str, table: str) -> str:
    return str(home / "lake" / project / table)


def _check(result: dg.ExecuteInProcessResult, asset: list[str], name: str) -> dg.AssetCheckEvaluation:
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.asset_check_key == dg.AssetCheckKey(dg.AssetKey(asset), name):
            return evaluation
    raise AssertionError(f"no evaluation of check {asset}:{name}")


@pytest.mark.parametrize(
    ("project", "first", "last"),
    [
        ("bike_sharing", "2011-01-01", "2011-01-03"),
        ("adult_income", "2024-01-01", "2024-01-02"),
        ("wine_quality", "2024-01-01", "2024-01-02"),
        ("demand_sim", "2024-01-01", "2024-01-03"),
    ],
)
def test_data_stage_materializes_each_example_project(
    project: str,
    first: str,
    last: str,
    specs: dict[str, ProjectSpec],
    mlops_home: Path,
    instance: dg.DagsterInstance,
) -> None:
    defs = build_definitions({project: specs[project]})
    result = run_job(defs, f"{project}__data", instance, first, last)
    assert result.success
    assert _check(result, [project, "raw"], "schema").passed
    assert _check(result, [project, "validated"], "expectations").passed

    raw = lake.read(_table(mlops_home, project, "raw"))
    validated = lake.read(_table(mlops_home, project, "validated"))
    features = lake.read(_table(mlops_home, project, "features"))
    assert sorted(raw[PARTITION].unique()) == sorted(set(raw[PARTITION]))
    assert raw[PARTITION].min() == first and raw[PARTITION].max() == last
    assert len(raw) > 0 and len(features) == len(validated)
    quarantined = lake.read(_table(mlops_home, project, "quarantine"))
    # Nothing silently dropped: every raw row is either validated or quarantined.
    assert len(validated) + len(quarantined) == len(raw)
    spec = specs[project]
    assert not set(spec.features.exclude) & set(features.columns) - {*spec.slices, *spec.sensitive_attributes}
    materialization = result.asset_materializations_for_node(f"{project}__validate")[0]
    assert materialization.metadata["rows_in"].value == len(raw)


def test_bike_sharing_leakage_columns_never_reach_features(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions({"bike_sharing": specs["bike_sharing"]})
    assert run_job(defs, "bike_sharing__data", instance, "2011-01-01", "2011-01-01").success
    features = lake.read(_table(mlops_home, "bike_sharing", "features"))
    assert {"casual", "registered", "instant"}.isdisjoint(features.columns)
    assert len(features) == 24  # 2011-01-01 has all 24 hours


def test_rematerializing_a_partition_replaces_it(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions({"bike_sharing": specs["bike_sharing"]})
    assert run_job(defs, "bike_sharing__data", instance, "2011-01-01", "2011-01-02").success
    uri = _table(mlops_home, "bike_sharing", "raw")
    first_version = lake.table_version(uri)
    before = lake.read(uri).sort_values(["_partition", "_row"]).reset_index(drop=True)
    assert run_job(defs, "bike_sharing__data", instance, "2011-01-02", "2011-01-02").success
    after = lake.read(uri).sort_values(["_partition", "_row"]).reset_index(drop=True)
    assert lake.table_version(uri) == first_version + 1
    assert len(after) == len(before)  # replaced, not appended
    # The previous version stays readable (time travel).
    assert len(lake.read(uri, version=first_version)) == len(before)


def test_a_single_partition_run_after_a_range_reads_only_its_own_rows(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions({"bike_sharing": specs["bike_sharing"]})
    assert run_job(defs, "bike_sharing__data", instance, "2011-01-01", "2011-01-03").success
    # Only `features` for the middle day: its input is narrowed from the range's stored handle.
    result = run_job(
        defs,
        "bike_sharing__data",
        instance,
        "2011-01-02",
        "2011-01-02",
        asset_selection=[dg.AssetKey(["bike_sharing", "features"])],
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["first_partition"].value == "2011-01-02"
    assert event.materialization.metadata["last_partition"].value == "2011-01-02"
