"""The raw asset materialized for real (Dagster + Delta tables), alone and as the head of the data job."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.data_job import (
    check,
    checks,
    materialized,
    metadata,
    quarantine,
    run_days,
    table_uri,
    with_bad_batches,
)


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
    result = run_days(specs[project], instance, first, last)
    assert result.success
    assert check(result, [project, "raw"], "schema").passed
    assert check(result, [project, "validated"], "expectations").passed

    raw = lake.read(table_uri(mlops_home, project, "raw"))
    validated = lake.read(table_uri(mlops_home, project, "validated"))
    features = lake.read(table_uri(mlops_home, project, "features"))
    assert sorted(raw[PARTITION].unique()) == sorted(set(raw[PARTITION]))
    assert raw[PARTITION].min() == first and raw[PARTITION].max() == last
    assert len(raw) > 0 and len(features) == len(validated)
    quarantined = lake.read(table_uri(mlops_home, project, "quarantine"))
    # Nothing silently dropped: every raw row is either validated or quarantined.
    assert len(validated) + len(quarantined) == len(raw)
    spec = specs[project]
    assert not set(spec.features.exclude) & set(features.columns) - {*spec.slices, *spec.sensitive_attributes}
    materialization = result.asset_materializations_for_node(f"{project}__validate")[0]
    assert materialization.metadata["rows_in"].value == len(raw)
    # Each partition's materialization counts its own rows, whichever partition ends the range.
    recorded = {
        e.materialization.partition: {
            k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == names.RAW
    }
    assert min(recorded) == first and max(recorded) == last
    for day, numbers in recorded.items():
        own = int((raw[PARTITION] == day).sum())
        assert numbers[names.META_ROWS_READ] == numbers[names.META_ROWS] == own > 0, day
        assert numbers[names.META_FIRST_PARTITION] == numbers[names.META_LAST_PARTITION] == day
        assert numbers[names.META_PARTITIONS_REJECTED] == 0


def test_rematerializing_a_partition_replaces_it(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    spec = specs["bike_sharing"]
    assert run_days(spec, instance, "2011-01-01", "2011-01-02").success
    uri = table_uri(mlops_home, "bike_sharing", "raw")
    first_version = lake.table_version(uri)
    before = lake.read(uri).sort_values(["_partition", "_row"]).reset_index(drop=True)
    assert run_days(spec, instance, "2011-01-02", "2011-01-02").success
    after = lake.read(uri).sort_values(["_partition", "_row"]).reset_index(drop=True)
    assert lake.table_version(uri) == first_version + 1
    assert len(after) == len(before)  # replaced, not appended
    # The previous version stays readable (time travel).
    assert len(lake.read(uri, version=first_version)) == len(before)


def test_a_retyped_column_fails_the_schema_check_and_keeps_every_row(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    faulty = with_bad_batches(specs["demand_sim"])
    result = run_days(faulty, instance, "2024-01-05", "2024-01-05")
    assert not result.success
    verdict = checks(result)["schema"]
    assert not verdict.passed and "windspeed" in (verdict.description or "")
    assert verdict.severity == dg.AssetCheckSeverity.ERROR
    assert verdict.metadata[names.META_PROBLEM_COUNT].value == 1
    assert materialized(result) == {"raw"}  # stored (empty for that partition); nothing downstream ran
    rejected = quarantine(mlops_home, "demand_sim", "2024-01-05")
    assert len(rejected) == faulty.source.simulator.rows_per_hour * 24  # type: ignore[union-attr]
    assert all(r["_stage"] == "schema" and "retyped" in r["reasons"] for r in rejected)
    # The raw handle pins nothing: "no partition" and "no version" read None, not "" or -1; the
    # partition's own record counts the rows its window held, none of them stored.
    recorded = metadata(result, names.RAW)
    assert recorded[names.META_FIRST_PARTITION] is None and recorded[names.META_LAST_PARTITION] is None
    assert recorded[names.META_TABLE_VERSION] is None and recorded[names.META_ROWS] == 0
    assert recorded[names.META_ROWS_READ] == len(rejected) == recorded[names.META_ROWS_PER_PARTITION]
    assert recorded[names.META_PARTITIONS_REJECTED] == 1


def test_case_16_a_check_that_raises_fails_the_run_and_nothing_downstream_runs(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster only warns about a check with no result; here the blocking schema check is part of
    # the asset's step, so a check that raises fails the step and validated never reads raw.
    def broken(_result: object) -> dg.AssetCheckResult:
        raise RuntimeError("schema check exploded")

    monkeypatch.setattr("mlops_pipelines.assets.ingestion.schema_check", broken)
    result = run_days(specs["demand_sim"], instance, "2024-01-05", "2024-01-05")
    assert not result.success
    assert materialized(result) == {"raw"}  # its output came before the check: nothing after it
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failures and "schema check exploded" in str(failures[0].event_specific_data)
