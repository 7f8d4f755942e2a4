"""validate_raw_slice without Dagster: raw written by ingest_partitions, real Delta tables and GX.

The simulator with `bad_batch_every=1` corrupts every day in a fixed rotation (day 1
out-of-range temp, day 2 all-null humidity, day 3 unseen weather category, day 4 duplicates).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.ingestion.stage import QUARANTINE_STAGE, ingest_partitions
from mlops_pipelines.lib.stores import DeltaTables, SourceFiles
from mlops_pipelines.lib.validation.stage import (
    FailedExpectation,
    ValidationStageError,
    validate_raw_slice,
)
from mlops_pipelines.spec import ColumnSpec, ProjectSpec


def day(key: str) -> dict[str, tuple[datetime, datetime]]:
    start = datetime.fromisoformat(key)
    return {key: (start, start + timedelta(days=1))}


@pytest.fixture
def tables(tmp_path: Path) -> DeltaTables:
    return DeltaTables(str(tmp_path / "lake"))


def ingested(spec: ProjectSpec, key: str, tables: DeltaTables, tmp_path: Path) -> TableSlice:
    result = ingest_partitions(spec, day(key), SourceFiles(None, tmp_path / "cache"), tables)
    assert result.passed, result.issues
    return result.raw


def test_flagged_rows_are_quarantined_with_reasons_and_the_rest_is_validated(
    faulty: ProjectSpec, tables: DeltaTables, tmp_path: Path
) -> None:
    raw = ingested(faulty, "2024-01-01", tables, tmp_path)
    result = validate_raw_slice(faulty, raw, tables)
    assert result.passed and result.failures == ()
    assert result.raw_version == raw.version and result.rows_in == raw.rows == 192
    assert result.rows_quarantined == 19 and result.validated.rows == 192 - 19
    assert result.quarantine_share == round(19 / 192, 6)
    assert result.failed_expectations == (
        FailedExpectation("2024-01-01", "expect_column_values_to_be_between", "temp", 19),
    )
    assert result.reasons and all("column 'temp'" in r.reason for r in result.reasons)
    assert sum(r.rows for r in result.reasons) == 19
    quarantine = lake.read(result.quarantine.uri, result.quarantine.version)
    assert (quarantine[QUARANTINE_STAGE] == names.EXPECTATIONS_CHECK).all() and len(quarantine) == 19
    assert len(lake.read(result.validated.uri, result.validated.version)) == 192 - 19


def test_a_batch_failing_a_batch_level_expectation_fails_with_the_column_named(
    faulty: ProjectSpec, tables: DeltaTables, tmp_path: Path
) -> None:
    raw = ingested(faulty, "2024-01-02", tables, tmp_path)
    result = validate_raw_slice(faulty, raw, tables)
    assert not result.passed
    assert {f.partition for f in result.failures} == {"2024-01-02"}
    assert any("column 'humidity' is entirely null" in f.problem for f in result.failures)
    # The rows are still kept, in quarantine: nothing is dropped.
    assert result.validated.rows + result.rows_quarantined == result.rows_in == 192


def test_a_raw_slice_without_partitions_raises_the_named_error(
    faulty: ProjectSpec, tables: DeltaTables
) -> None:
    empty = TableSlice("demand_sim/raw", tables.uri("demand_sim", names.RAW), -1, (), 0)
    with pytest.raises(ValidationStageError, match="raw holds no typed partition for this run"):
        validate_raw_slice(faulty, empty, tables)


def test_raw_that_no_longer_conforms_to_the_spec_raises_naming_the_column(
    faulty: ProjectSpec, tables: DeltaTables, tmp_path: Path
) -> None:
    raw = ingested(faulty, "2024-01-01", tables, tmp_path)
    grown = faulty.model_copy(update={"columns": {**faulty.columns, "pressure": ColumnSpec(dtype="float")}})
    with pytest.raises(ValidationStageError, match=r"no longer conform.*column 'pressure' missing"):
        validate_raw_slice(grown, raw, tables)


def test_a_partition_without_rows_fails_and_has_no_quarantine_share(
    faulty: ProjectSpec, tables: DeltaTables, tmp_path: Path
) -> None:
    source = SourceFiles(None, tmp_path / "cache")
    frame = source.read_window(faulty, *day("2024-01-01")["2024-01-01"]).iloc[0:0]
    raw = ingest_partitions(faulty, day("2024-01-01"), _Fixed(frame, source), tables).raw
    assert raw.partitions == ("2024-01-01",) and raw.rows == 0
    result = validate_raw_slice(faulty, raw, tables)
    assert result.rows_in == 0 and result.quarantine_share is None
    assert not result.passed and "row count" in result.failures[0].problem.lower()


class _Fixed:
    def __init__(self, frame: pd.DataFrame, inner: SourceFiles) -> None:
        self.frame, self.inner = frame, inner

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame:
        return self.frame

    def describe(self, spec: ProjectSpec) -> str:
        return self.inner.describe(spec)
