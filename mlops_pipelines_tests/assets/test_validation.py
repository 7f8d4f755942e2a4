"""Bad batches through the real graph: blocking checks stop downstream, rejected rows are kept.

The simulator with `bad_batch_every=1` corrupts every day in a fixed rotation:
day 1 out-of-range temp, day 2 all-null humidity, day 3 unseen weather category,
day 4 duplicated rows, day 5 windspeed retyped as text (see test_ingestion.py for day 5).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.ingestion.simulate import bad_batch_fault
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.data_job import (
    checks,
    materialized,
    metadata,
    quarantine,
    run_days,
    table_uri,
    with_bad_batches,
)


@pytest.fixture
def faulty(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return with_bad_batches(specs["demand_sim"])


def run_day(spec: ProjectSpec, instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    return run_days(spec, instance, day, day)


def test_the_rotation_is_as_documented(faulty: ProjectSpec) -> None:
    assert faulty.source.simulator is not None
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
    rejected = quarantine(mlops_home, "demand_sim", "2024-01-01")
    assert rejected and all("column 'temp'" in r["reasons"] for r in rejected)
    assert all(json.loads(r["payload"])["temp"] is not None for r in rejected)  # original values kept
    raw = lake.read(table_uri(mlops_home, "demand_sim", "raw"))
    validated = lake.read(table_uri(mlops_home, "demand_sim", "validated"))
    assert len(validated) + len(rejected) == len(raw)
    assert "features" in materialized(result)
    recorded = metadata(result, names.VALIDATED)
    assert recorded[names.META_ROWS_QUARANTINED] == len(rejected)
    assert recorded[names.META_QUARANTINE_SHARE] == round(len(rejected) / len(raw), 6)
    assert "column 'temp'" in metadata(result, names.QUARANTINE)[names.META_QUARANTINE_REASONS]


@pytest.mark.parametrize(("day", "column"), [("2024-01-02", "humidity")])
def test_case_15_a_batch_failing_its_blocking_expectations_blocks_downstream(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path, day: str, column: str
) -> None:
    result = run_day(faulty, instance, day)
    assert not result.success
    verdict = checks(result)["expectations"]
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert column in (verdict.description or "")
    assert "features" not in materialized(result)
    assert all(f"column '{column}'" in r["reasons"] for r in quarantine(mlops_home, "demand_sim", day))


def test_unseen_categories_and_duplicates_are_quarantined_with_reasons(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    run_day(faulty, instance, "2024-01-03")
    run_day(faulty, instance, "2024-01-04")
    unseen = quarantine(mlops_home, "demand_sim", "2024-01-03")
    assert unseen and all("weather" in r["reasons"] and "not in" in r["reasons"] for r in unseen)
    duplicates = quarantine(mlops_home, "demand_sim", "2024-01-04")
    assert duplicates and all("duplicate of row" in r["reasons"] for r in duplicates)


def test_validating_a_raw_handle_without_partitions_fails_the_step_with_the_stage_error(
    faulty: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    # Day 5 is retyped: raw stores a handle that pins no partition, and the blocking schema
    # check stops validate in that run. Validating that handle on its own fails the step.
    assert not run_day(faulty, instance, "2024-01-05").success
    result = run_days(
        faulty,
        instance,
        "2024-01-05",
        "2024-01-05",
        asset_selection=[
            dg.AssetKey(["demand_sim", names.VALIDATED]),
            dg.AssetKey(["demand_sim", names.QUARANTINE]),
        ],
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "demand_sim: raw holds no typed partition for this run" in str(failure.event_specific_data)
    assert materialized(result) == set()
