"""Bad batches through the real graph: blocking checks stop downstream, rejected rows are kept.

The simulator with `bad_batch_every=1` corrupts every day in a fixed rotation:
day 1 out-of-range temp, day 2 all-null humidity, day 3 unseen weather category,
day 4 duplicated rows, day 5 windspeed retyped as text.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.ingestion.simulate import bad_batch_fault
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec


@pytest.fixture
def faulty(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    spec = specs["demand_sim"]
    assert spec.source.simulator is not None
    simulator = spec.source.simulator.model_copy(update={"bad_batch_every": 1})
    return spec.model_copy(update={"source": spec.source.model_copy(update={"simulator": simulator})})


def run_day(spec: ProjectSpec, instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    return run_job(build_definitions({spec.name: spec}), f"{spec.name}__data", instance, day, day)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def quarantine(home: Path, day: str) -> list[dict[str, str]]:
    rows = lake.read(str(home / "lake/demand_sim/quarantine"))
    return rows[rows["_partition"] == day].to_dict("records")


def test_the_rotation_is_as_documented(faulty: ProjectSpec) -> None:
    assert faulty.source.simulator is not None
    from datetime import date

    kinds = [bad_batch_fault(faulty.source.simulator, date(2024, 1, d)) for d in range(1, 6)]
    assert [k[0] if k else None for k in kinds] == [
        "out_of_range",
        "all_null",
        "unseen_category",
        "duplicates",
        "retyped",
    ]


def test_out_of_range_rows_are_quarantined_and_the_rest_flows(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    result = run_day(faulty, instance, "2024-01-01")
    assert result.success and checks(result)["expectations"].passed
    rejected = quarantine(mlops_home, "2024-01-01")
    assert rejected and all("column 'temp'" in r["reasons"] for r in rejected)
    assert all(json.loads(r["payload"])["temp"] is not None for r in rejected)  # original values kept
    raw = lake.read(str(mlops_home / "lake/demand_sim/raw"))
    validated = lake.read(str(mlops_home / "lake/demand_sim/validated"))
    assert len(validated) + len(rejected) == len(raw)
    assert "features" in materialized(result)


@pytest.mark.parametrize(("day", "column"), [("2024-01-02", "humidity")])
def test_a_batch_failing_its_expectations_blocks_downstream(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path, day: str, column: str
) -> None:
    result = run_day(faulty, instance, day)
    assert not result.success
    verdict = checks(result)["expectations"]
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert column in (verdict.description or "")
    assert "features" not in materialized(result)
    assert all(f"column '{column}'" in r["reasons"] for r in quarantine(mlops_home, day))


def test_unseen_categories_and_duplicates_are_quarantined_with_reasons(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    run_day(faulty, instance, "2024-01-03")
    run_day(faulty, instance, "2024-01-04")
    unseen = quarantine(mlops_home, "2024-01-03")
    assert unseen and all("weather" in r["reasons"] and "not in" in r["reasons"] for r in unseen)
    duplicates = quarantine(mlops_home, "2024-01-04")
    assert duplicates and all("duplicate of row" in r["reasons"] for r in duplicates)


def test_a_retyped_column_fails_the_schema_check_and_keeps_every_row(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    result = run_day(faulty, instance, "2024-01-05")
    assert not result.success
    verdict = checks(result)["schema"]
    assert not verdict.passed and "windspeed" in (verdict.description or "")
    assert materialized(result) == {"raw"}  # stored (empty for that partition); nothing downstream ran
    rejected = quarantine(mlops_home, "2024-01-05")
    assert len(rejected) == faulty.source.simulator.rows_per_hour * 24  # type: ignore[union-attr]
    assert all(r["_stage"] == "schema" and "retyped" in r["reasons"] for r in rejected)
