"""validate_raw_slice over a range judged in groups of partitions (bounded memory for backfills):
the same verdicts, rows and quarantine as judged at once, rules over the whole slice, and
nothing written when a group fails half way."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines.lib import lake
from mlops_pipelines.lib.chunks import chunk_keys
from mlops_pipelines.lib.frames import ROW_ID, TableSlice
from mlops_pipelines.lib.ingestion.stage import ingest_partitions
from mlops_pipelines.lib.stores import DeltaTables, SourceFiles
from mlops_pipelines.lib.validation import gx
from mlops_pipelines.lib.validation.stage import validate_raw_slice
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines.spec_rules import StuckRule

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]  # day 5 fails ingestion


def windows(keys: list[str]) -> dict[str, tuple[datetime, datetime]]:
    return {k: (datetime.fromisoformat(k), datetime.fromisoformat(k) + timedelta(days=1)) for k in keys}


def ingest(spec: ProjectSpec, root: Path, source: object) -> tuple[DeltaTables, TableSlice]:
    tables = DeltaTables(str(root / "lake"))
    result = ingest_partitions(spec, windows(DAYS), source, tables)  # type: ignore[arg-type]
    assert result.passed, result.issues
    return tables, result.raw


def stored(piece: TableSlice) -> pd.DataFrame:
    frame = lake.read(piece.uri, piece.version)
    return frame.sort_values(["_partition", ROW_ID]).reset_index(drop=True)


def test_the_table_log_gives_each_pinned_partitions_rows_without_reading_data(
    faulty: ProjectSpec, tmp_path: Path
) -> None:
    tables, raw = ingest(faulty, tmp_path, SourceFiles(None, tmp_path / "cache"))
    counts = tables.slice_rows(raw)
    assert list(counts) == DAYS and sum(counts.values()) == raw.rows
    assert tables.slice_rows(replace(raw, partitions=("2024-01-02", "2099-01-01"))) == {
        "2024-01-02": counts["2024-01-02"],
        "2099-01-01": 0,
    }


def test_a_range_judged_in_groups_matches_the_range_judged_at_once(
    faulty: ProjectSpec, tmp_path: Path
) -> None:
    source = SourceFiles(None, tmp_path / "cache")
    at_once_tables, raw_a = ingest(faulty, tmp_path / "a", source)
    grouped_tables, raw_b = ingest(faulty, tmp_path / "b", source)
    at_once = validate_raw_slice(faulty, raw_a, at_once_tables, chunk_rows=10**9)
    grouped = validate_raw_slice(faulty, raw_b, grouped_tables, chunk_rows=raw_b.rows // 4)
    assert len(chunk_keys(raw_b.partitions, grouped_tables.slice_rows(raw_b), raw_b.rows // 4)) >= 4
    assert not at_once.passed and at_once.rows_quarantined > 0  # the rotation fails and flags rows
    for field in ("rows_in", "failures", "failed_expectations", "reasons", "warnings", "rows_quarantined"):
        assert getattr(grouped, field) == getattr(at_once, field), field
    assert grouped.validated.partitions == tuple(DAYS) and grouped.validated.rows == at_once.validated.rows
    pd.testing.assert_frame_equal(stored(grouped.validated), stored(at_once.validated))
    pd.testing.assert_frame_equal(stored(grouped.quarantine), stored(at_once.quarantine))


class _StuckAcrossMidnight:
    """The simulator, with temp stuck at one value over the last and first 20 rows of days 2 and 3."""

    def __init__(self, inner: SourceFiles) -> None:
        self.inner = inner

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame:
        frame = (
            self.inner.read_window(spec, start, end).sort_values(str(spec.time.column)).reset_index(drop=True)
        )
        if start == datetime(2024, 1, 2):
            frame.loc[len(frame) - 20 :, "temp"] = 21.5
        if start == datetime(2024, 1, 3):
            frame.loc[:19, "temp"] = 21.5
        return frame

    def describe(self, spec: ProjectSpec) -> str:
        return self.inner.describe(spec)


def test_rules_see_the_whole_range_when_it_is_judged_in_groups(
    specs: dict[str, ProjectSpec], tmp_path: Path
) -> None:
    spec = specs["demand_sim"]
    rules = [StuckRule(rule="stuck", column="temp", min_rows=30)]
    spec = spec.model_copy(update={"validation": spec.validation.model_copy(update={"rules": rules})})
    tables, raw = ingest(spec, tmp_path, _StuckAcrossMidnight(SourceFiles(None, tmp_path / "cache")))
    # One partition per group: the 40-row run crosses a group boundary, 20 rows on each side.
    result = validate_raw_slice(spec, raw, tables, chunk_rows=1)
    stuck = [f for f in result.failures if "stuck" in f.problem]
    assert [f.partition for f in stuck] == ["2024-01-02", "2024-01-03"], result.failures
    assert "repeats in 40 rows" in stuck[0].problem


def test_a_group_failing_half_way_writes_nothing(
    faulty: ProjectSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables, raw = ingest(faulty, tmp_path, SourceFiles(None, tmp_path / "cache"))
    real = gx.validate_partitions
    calls: list[list[str]] = []

    def third_group_errors(frame: pd.DataFrame, spec: ProjectSpec, keys: list[str]) -> object:
        calls.append(list(keys))
        if len(calls) == 3:
            raise RuntimeError("GX blew up on the third group")
        return real(frame, spec, keys)

    monkeypatch.setattr(gx, "validate_partitions", third_group_errors)
    # As a range run's input arrives through the IO manager: merged handles, row count unknown.
    with pytest.raises(RuntimeError, match="third group"):
        validate_raw_slice(faulty, replace(raw, rows=-1), tables, chunk_rows=1)
    assert calls == [[k] for k in DAYS[:3]]
    for table in ("validated", "quarantine"):
        assert not lake.table_exists(tables.uri(faulty.name, table)), f"{table} was written"
