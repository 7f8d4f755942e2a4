"""Small helpers every stage's asset factory shares: keys, partitions, table metadata."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.spec import ProjectSpec

# Problems a check's description lists before the metadata table takes over.
DESCRIBED_PROBLEMS = 5
# A tracking-server outage retries the step after 5, 10 and 20 s (35 s in all): long enough for a
# server restart, short enough that a dead server fails the run, naming it, within a minute.
OUTAGE_RETRIES = 3
OUTAGE_FIRST_WAIT_SECONDS = 5.0


@contextmanager
def retry_on_outage(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Within: an unreachable tracking server (`TrackingUnavailable`) retries the step with
    backoff; any other error fails it at once (bad data does not get better by waiting). Steps
    are idempotent, so a retry never registers a second version (`lib/registry/versions.py`)."""
    from mlops_pipelines.lib.registry.session import TrackingUnavailable

    try:
        yield
    except TrackingUnavailable as err:
        attempt = context.retry_number
        if attempt >= OUTAGE_RETRIES:
            raise
        wait = OUTAGE_FIRST_WAIT_SECONDS * 2**attempt
        context.log.warning(f"{err}: retry {attempt + 1} of {OUTAGE_RETRIES} in {wait:.0f} s")
        raise dg.RetryRequested(max_retries=OUTAGE_RETRIES, seconds_to_wait=wait) from err


def asset_key(spec: ProjectSpec, name: str) -> dg.AssetKey:
    return dg.AssetKey([spec.name, name])


def check_key(spec: ProjectSpec, asset: str, check: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(asset_key(spec, asset), check)


def run_partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """Every partition key this run covers (one, or a whole range under a single-run backfill)."""
    return list(context.partition_keys)


def slice_metadata(piece: TableSlice) -> dict[str, Any]:
    """Where a slice lives and what it pins. A handle that wrote nothing (version -1) or whose
    row count is unknown (-1) shows None there, as does a slice without partitions."""
    return {
        names.META_TABLE: piece.table,
        names.META_TABLE_URI: dg.MetadataValue.path(piece.uri),
        names.META_TABLE_VERSION: piece.version if piece.version >= 0 else None,
        names.META_ROWS: piece.rows if piece.rows >= 0 else None,
        names.META_PARTITIONS: len(piece.partitions),
        names.META_FIRST_PARTITION: piece.partitions[0] if piece.partitions else None,
        names.META_LAST_PARTITION: piece.partitions[-1] if piece.partitions else None,
    }


def partition_slice_metadata(piece: TableSlice, partition: str, rows: int | None) -> dict[str, Any]:
    """The slice keys of `slice_metadata` as one partition of `piece` sees them: its own row
    count (None: not known per partition), and itself as first and last partition when the
    slice pins it (None when it does not, e.g. a rejected batch). Set per partition
    (`assets.partitioned.add_partition_metadata`) so a range run's totals stay off it."""
    pinned = partition in piece.partitions
    return {
        names.META_ROWS: rows,
        names.META_PARTITIONS: int(pinned),
        names.META_FIRST_PARTITION: partition if pinned else None,
        names.META_LAST_PARTITION: partition if pinned else None,
    }


def md_table(rows: Sequence[dict[str, Any]], limit: int = 50) -> dg.MetadataValue:
    """A Markdown table for metadata; long tables are cut with a count of what was left out.

    A None value shows as an empty cell."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows[:limit]:
        cells = ("" if row.get(h) is None else str(row[h]) for h in headers)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows not shown_")
    return dg.MetadataValue.md("\n".join(lines))


def records_table(records: Sequence[Any], limit: int = 50) -> dg.MetadataValue:
    """`md_table` of frozen dataclass records: one column per field, in field order."""
    return md_table([dataclasses.asdict(record) for record in records], limit)


def problems_text(problems: Sequence[tuple[str, str]]) -> str | None:
    """A check description from (partition, problem) pairs: the first few, or None when none."""
    shown = [f"{partition}: {problem}" for partition, problem in problems[:DESCRIBED_PROBLEMS]]
    return "; ".join(shown) or None
