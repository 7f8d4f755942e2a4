"""What the exporter knows about each project, as frozen records, and the pure folds that build them.

The Dagster source (`dagster_source`) and the registry source (`registry_source`) read the
stores; everything here only sorts and counts what they read, so it is tested without either.
Counters are tallies kept across scrapes (`Tally`): each scrape folds in only the events after
the newest one already counted, so a long history is read once per exporter process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_pipelines import names

# Newest drift partitions exported with a `partition` label: enough for a fortnight of daily
# partitions, few enough that the label's values stay bounded as partitions accumulate.
DRIFT_PARTITIONS = 14
ROLLBACK = "rollback"  # a decision key: the rollback job's champion materialization


@dataclass(frozen=True)
class PartitionDrift:
    """One partition's newest drift verdict; share None: no verdict (never shown as 0)."""

    partition: str
    status: str
    share: float | None
    level: int


@dataclass(frozen=True)
class Tally:
    """Counts by key of events up to storage id `after` (None: nothing read yet)."""

    after: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)

    def fold(self, events: Iterable[tuple[int, str | None, int]]) -> Tally:
        """This tally with (storage id, key, amount) events added; a None key only moves `after`."""
        counts, after = dict(self.counts), self.after
        for storage_id, key, amount in events:
            if after is not None and storage_id <= after:
                continue  # already counted (a page read twice)
            after = storage_id
            if key is not None:
                counts[key] = counts.get(key, 0) + amount
        return Tally(after, counts)

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)


@dataclass(frozen=True)
class PipelineState:
    """What the Dagster instance holds for one project."""

    project: str
    drift: tuple[PartitionDrift, ...]  # newest partition first, at most DRIFT_PARTITIONS
    retrains: Mapping[str, int]  # run status (success, failure) -> finished retrain runs
    decisions: Mapping[str, int]  # gate verdict, or ROLLBACK -> champion materializations
    newest_partition: str | None  # the newest raw partition materialized
    newest_partition_end: float | None  # its end, unix seconds (partition times are UTC)
    last_ingest: float | None  # when raw was last materialized, unix seconds
    check_failures: Mapping[tuple[str, str], int]  # (asset, check) -> failed evaluations
    quarantined_rows: int  # rows validation has quarantined, over every run


@dataclass(frozen=True)
class RegistryState:
    """The aliases of one project's registered model (empty: nothing registered)."""

    project: str
    aliases: Mapping[str, str]  # alias -> version


@dataclass(frozen=True)
class SourceRead:
    """How the last read of one source went; `error` names the setting to check when it failed."""

    source: str
    up: bool
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One reading of every source, shared by the scrapes that arrive within the cache time."""

    taken_at: float  # unix seconds
    sources: tuple[SourceRead, ...]
    pipelines: tuple[PipelineState, ...]
    registries: tuple[RegistryState, ...]


def plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata values as plain Python values."""
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def _share(value: Any) -> float | None:
    if value is None:
        return None
    share = float(value)
    return share if math.isfinite(share) else None


def _level(metadata: Mapping[str, Any], status: str) -> int:
    level = metadata.get(names.META_DRIFT_LEVEL)
    if level is not None:
        return int(level)
    from mlops_pipelines.lib.monitoring.stage_drift import severity  # older records carry no level

    return severity(status)


def newest_drift(
    observations: Iterable[tuple[int, str | None, Mapping[str, Any]]], keep: int = DRIFT_PARTITIONS
) -> tuple[PartitionDrift, ...]:
    """From (storage id, partition, plain metadata) drift observations: each partition's newest
    verdict, for the `keep` newest partition keys (partition keys sort as time)."""
    newest: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for storage_id, partition, metadata in observations:
        if partition is None:
            continue
        if partition not in newest or newest[partition][0] < storage_id:
            newest[partition] = (storage_id, metadata)
    found = []
    for partition in sorted(newest, reverse=True)[:keep]:
        metadata = newest[partition][1]
        status = str(metadata.get(names.META_STATUS) or "invalid")
        found.append(
            PartitionDrift(
                partition, status, _share(metadata.get(names.META_DRIFT_SHARE)), _level(metadata, status)
            )
        )
    return tuple(found)


def decision_key(metadata: Mapping[str, Any]) -> str | None:
    """What one champion materialization counts as: its gate verdict, ROLLBACK, or nothing (a
    gate run that had no challenger to judge)."""
    if metadata.get(names.META_ACTION) == ROLLBACK:
        return ROLLBACK
    verdict = metadata.get(names.META_VERDICT)
    return None if verdict is None else str(verdict)


def quarantined_in_run(partition: str | None, metadata: Mapping[str, Any]) -> int:
    """Rows one validated materialization quarantined, counted once per run: a range run copies
    its totals onto every partition, so only the run's last partition counts them."""
    if partition is not None and metadata.get(names.META_LAST_PARTITION) not in (None, partition):
        return 0
    return int(metadata.get(names.META_ROWS_QUARANTINED) or 0)
