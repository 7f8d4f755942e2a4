"""ingest_partitions without Dagster: the simulator's windows, real Delta tables under tmp_path.

A batch that cannot be typed is quarantined whole with reasons naming its columns; the other
partitions of the same run are stored as if it had not been there.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION, ROW_ID
from mlops_pipelines.lib.ingestion.stage import (
    QUARANTINE_STAGE,
    SchemaIssue,
    ingest_partitions,
    quarantine_rows,
)
from mlops_pipelines.lib.stores import DeltaTables, SourceFiles
from mlops_pipelines.spec import ProjectSpec

DAYS = {
    "2024-01-01": (datetime(2024, 1, 1), datetime(2024, 1, 2)),
    "2024-01-02": (datetime(2024, 1, 2), datetime(2024, 1, 3)),
}
BROKEN_DAY = "2024-01-02"


class DroppingSource:
    """The simulator, except that one day's batch arrives without `column`."""

    def __init__(self, inner: SourceFiles, day: datetime, column: str) -> None:
        self.inner, self.day, self.column = inner, day, column

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame:
        batch = self.inner.read_window(spec, start, end)
        return batch.drop(columns=[self.column]) if start == self.day else batch

    def describe(self, spec: ProjectSpec) -> str:
        return self.inner.describe(spec)


@pytest.fixture
def tables(tmp_path: Path) -> DeltaTables:
    return DeltaTables(str(tmp_path / "lake"))


@pytest.fixture
def source(tmp_path: Path) -> SourceFiles:
    return SourceFiles(None, tmp_path / "cache")


def test_every_conforming_partition_is_typed_and_stored(
    specs: dict[str, ProjectSpec], tables: DeltaTables, source: SourceFiles
) -> None:
    spec = specs["demand_sim"]
    result = ingest_partitions(spec, DAYS, source, tables)
    assert result.passed and result.issues == () and result.rejected == ()
    assert result.quarantine is None
    assert result.source == "built-in simulator (synthetic)"
    assert list(result.rows_read) == list(DAYS) and result.total_rows_read == 2 * 24 * 8
    assert result.raw.partitions == tuple(DAYS) and result.raw.rows == result.total_rows_read
    assert result.raw.version == 0 and result.raw.table == "demand_sim/raw"
    stored = lake.read(result.raw.uri, result.raw.version)
    assert len(stored) == result.raw.rows
    # Typed by the spec (Delta hands Int64 back as int64).
    assert str(stored["temp"].dtype) == "float64" and pd.api.types.is_integer_dtype(stored["hour"])
    # Rows are numbered per partition, in arrival order.
    for key in DAYS:
        assert stored[stored[PARTITION] == key][ROW_ID].sort_values().tolist() == list(range(24 * 8))


def test_a_batch_missing_a_column_is_quarantined_whole_with_the_column_named(
    specs: dict[str, ProjectSpec], tables: DeltaTables, source: SourceFiles
) -> None:
    spec = specs["demand_sim"]
    broken = DroppingSource(source, DAYS[BROKEN_DAY][0], "humidity")
    result = ingest_partitions(spec, DAYS, broken, tables)
    assert not result.passed and result.rejected == (BROKEN_DAY,)
    assert result.issues == (
        SchemaIssue(BROKEN_DAY, "humidity", "column 'humidity' missing: spec column absent from the batch"),
    )
    # The good day is stored alone; the broken day holds no rows in raw.
    assert result.raw.partitions == ("2024-01-01",) and result.raw.rows == 24 * 8
    assert set(lake.read(result.raw.uri)[PARTITION]) == {"2024-01-01"}
    assert result.quarantine is not None and result.quarantine.partitions == (BROKEN_DAY,)
    rejected = lake.read(result.quarantine.uri)
    assert len(rejected) == result.rows_read[BROKEN_DAY] == 24 * 8
    assert (rejected[QUARANTINE_STAGE] == names.SCHEMA_CHECK).all()
    assert rejected["reasons"].str.contains("column 'humidity' missing").all()
    assert "humidity" not in json.loads(rejected["payload"].iloc[0])  # the payload is the batch as it came


def test_a_run_whose_every_batch_is_rejected_stores_no_raw_partition(
    specs: dict[str, ProjectSpec], tables: DeltaTables, source: SourceFiles
) -> None:
    spec = specs["demand_sim"]
    first = {"2024-01-01": DAYS["2024-01-01"]}
    result = ingest_partitions(spec, first, DroppingSource(source, first["2024-01-01"][0], "temp"), tables)
    assert result.rejected == ("2024-01-01",) and result.raw.partitions == () and result.raw.rows == 0
    assert not lake.table_exists(result.raw.uri)  # nothing was written to raw
    assert result.quarantine is not None and result.quarantine.rows == 24 * 8


def test_quarantine_rows_label_the_rejecting_stage() -> None:
    rows = pd.DataFrame({PARTITION: ["d"], ROW_ID: [0], "reasons": ["r"], "payload": ["{}"]})
    labelled = quarantine_rows(rows, names.EXPECTATIONS_CHECK)
    assert labelled[QUARANTINE_STAGE].tolist() == [names.EXPECTATIONS_CHECK]
    assert QUARANTINE_STAGE not in rows.columns  # the input is not changed
