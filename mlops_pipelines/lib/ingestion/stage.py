"""The ingestion stage: each partition's window read from the source, typed by the spec, stored.

`ingest_partitions` is what the `raw` asset runs (and the benchmarks' plain path): one read
per partition window, `conform` to the spec's columns and dtypes, one atomic write of the
typed rows to the raw table. A batch whose structure does not match the spec (a missing,
extra, repeated or uncastable column) cannot be typed: its rows go to the quarantine table
whole, each with every structural reason, its partition holds no rows in raw, and the result
says so (`IngestionResult.passed` is False) so the caller can block everything downstream.
Nothing is dropped: every row read is either in raw or in quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, ROW_ID, TableSlice

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.ports import SourceReader, TableStore
    from mlops_pipelines.spec import ProjectSpec

# The quarantine table's column naming the stage that rejected a row. Each stage replaces only
# its own rows of a partition (`where=`), so a schema rejection and an expectation rejection of
# the same day never overwrite each other. Its values are the names of the rejecting checks.
QUARANTINE_STAGE = "_stage"


def quarantine_rows(rows: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Quarantine rows (`conform.QUARANTINE_COLUMNS`) labelled with the stage that rejected them."""
    return rows.assign(**{QUARANTINE_STAGE: stage})


@dataclass(frozen=True)
class SchemaIssue:
    """One structural problem of one partition's batch (which is then quarantined whole)."""

    partition: str
    column: str
    problem: str  # the full message, naming the column and what is wrong with it


@dataclass(frozen=True)
class IngestionResult:
    """What one ingestion run stored, and why any partition was rejected."""

    raw: TableSlice  # typed rows of the partitions that conformed (no partitions when none did)
    quarantine: TableSlice | None  # rows of the rejected batches; None when no batch was rejected
    source: str  # where the rows came from, as the source describes itself
    rows_read: Mapping[str, int]  # rows each partition's window held, in run order
    issues: tuple[SchemaIssue, ...]  # in partition order, then the order conform found them

    @property
    def passed(self) -> bool:
        return not self.issues

    @property
    def rejected(self) -> tuple[str, ...]:
        """Partitions whose batch was quarantined whole, in run order."""
        bad = {issue.partition for issue in self.issues}
        return tuple(key for key in self.rows_read if key in bad)

    @property
    def total_rows_read(self) -> int:
        return sum(self.rows_read.values())


def ingest_partitions(
    spec: ProjectSpec,
    windows: Mapping[str, tuple[datetime, datetime]],
    source: SourceReader,
    tables: TableStore,
) -> IngestionResult:
    """Read, type and store each partition `key -> [start, end)` of `windows` (run order kept).

    The typed rows of every conforming partition are written to raw in one commit that
    replaces exactly those partitions; the rejected batches' rows replace the schema stage's
    quarantine rows of their partitions. Read and write errors propagate unchanged.
    """
    import pandas as pd

    from mlops_pipelines.lib.chunks import concat_arrow, release_memory
    from mlops_pipelines.lib.ingestion.conform import conform, quarantine_whole_batch
    from mlops_pipelines.lib.lake import to_arrow

    # Each typed partition is kept as Arrow (strings far smaller than pandas objects) and the
    # pandas copies die per partition: a 10M-row range run holds one partition in pandas at a time.
    typed: list[Any] = []
    rejected: list[pd.DataFrame] = []
    issues: list[SchemaIssue] = []
    rows_read: dict[str, int] = {}
    for key, (start, end) in windows.items():
        batch = source.read_window(spec, start, end)
        rows_read[key] = len(batch)
        result = conform(batch, spec)
        if result.frame is None:
            whole = quarantine_whole_batch(batch, result.problems, key)
            rejected.append(quarantine_rows(whole, names.SCHEMA_CHECK))
            issues.extend(SchemaIssue(key, p.column, p.message) for p in result.problems)
            continue
        frame = result.frame.copy()
        frame[PARTITION] = key
        frame[ROW_ID] = range(len(frame))
        typed.append(to_arrow(frame))
        del frame, result, batch

    quarantine = None
    if rejected:
        rows = pd.concat(rejected, ignore_index=True)
        keys = sorted({str(k) for k in rows[PARTITION]})
        where = {QUARANTINE_STAGE: names.SCHEMA_CHECK}
        quarantine = tables.write_partitions(spec.name, names.QUARANTINE, rows, keys, where=where)
    bad = {issue.partition for issue in issues}
    good_keys = [key for key in windows if key not in bad]
    if typed:
        raw = tables.write_partitions(spec.name, names.RAW, concat_arrow(typed), good_keys)
        typed.clear()
        release_memory(raw.rows)
    else:
        # Nothing conformed: a handle that pins no partition, so a reader gets no rows.
        raw = TableSlice(f"{spec.name}/{names.RAW}", tables.uri(spec.name, names.RAW), -1, (), 0)
    return IngestionResult(
        raw=raw,
        quarantine=quarantine,
        source=source.describe(spec),
        rows_read=rows_read,
        issues=tuple(issues),
    )
