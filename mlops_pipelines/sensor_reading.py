"""Reading the monitoring results the retraining sensor decides on, from the event log.

Dagster's `@asset_sensor` sees only the latest event between ticks, so the sensor walks the
drift and performance observations itself, after the storage ids its cursor holds, and folds
them into per-partition results (`SensorCursor`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.sensor_cursor import PartitionResult, SensorCursor
from mlops_pipelines.spec import ProjectSpec

PAGE = 1000
# Observations read per stream per tick: a backlog (a daemon down for weeks, a big backfill) is
# read over several ticks, each well inside the daemon's sensor timeout, with the cursor
# advancing; no retrain is requested until the sensor has caught up.
MAX_EVENTS_PER_TICK = 20_000
NO_DATA = "insufficient_data"  # the status of a partition with a performance result but no drift yet
UNREADABLE = "invalid"  # the status of a drift observation that carries none


def _read_new(
    instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None, budget: int
) -> tuple[list[Any], bool]:
    """Observations of `key` after storage id `after`, at most `budget` of them, and whether more wait."""
    records: list[Any] = []
    cursor = None
    while True:
        page = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
            limit=min(PAGE, budget - len(records)),
            cursor=cursor,
            ascending=True,
        )
        records.extend(page.records)
        if not page.has_more:
            return records, False
        if len(records) >= budget:
            return records, True
        cursor = page.cursor


def metadata_value(metadata: dict[str, Any], name: str) -> Any:
    """A metadata value; None for a missing key and for a null value alike."""
    entry = metadata.get(name)
    return None if entry is None else getattr(entry, "value", entry)


def _text(metadata: dict[str, Any], name: str) -> str | None:
    value = metadata_value(metadata, name)
    return None if value is None else str(value)


def _verdict(metadata: dict[str, Any], name: str) -> bool | None:
    """A performance verdict: True, False, or None when there is none (missing or null)."""
    value = metadata_value(metadata, name)
    return None if value is None else bool(value)


def _number(metadata: dict[str, Any], name: str) -> float | None:
    """A number, None when there is none (a missing, null or NaN value; never 0.0)."""
    value = metadata_value(metadata, name)
    number = None if value is None else float(value)
    return number if number is not None and math.isfinite(number) else None


def _share(metadata: dict[str, Any]) -> float | None:
    """The drift share, None when there is no verdict."""
    return _number(metadata, names.META_DRIFT_SHARE)


def absorb(
    cursor: SensorCursor, spec: ProjectSpec, instance: dg.DagsterInstance
) -> tuple[SensorCursor, int, bool]:
    """The cursor with the new drift and performance observations folded in (at most
    MAX_EVENTS_PER_TICK of each), how many, and whether a backlog is left for the next tick."""
    results = {r.partition: r for r in cursor.results}
    drift_after, performance_after = cursor.drift_after, cursor.performance_after
    drift, more_drift = _read_new(
        instance, dg.AssetKey([spec.name, names.DRIFT]), drift_after, MAX_EVENTS_PER_TICK
    )
    for record in drift:
        obs = record.event_log_entry.asset_observation
        drift_after = record.storage_id
        if obs.partition is None:
            continue  # an unpartitioned observation has no place in the partition-ordered policy
        status = metadata_value(obs.metadata, names.META_STATUS)
        entry = results.get(obs.partition) or PartitionResult(obs.partition, NO_DATA, None, False, 0)
        results[obs.partition] = replace(
            entry,
            status=UNREADABLE if status is None else str(status),
            drift_share=_share(obs.metadata),
            event_id=record.storage_id,
            estimated_degraded=_verdict(obs.metadata, names.META_ESTIMATED_DEGRADED),
            champion_version=_text(obs.metadata, names.META_CHAMPION_VERSION),
            row_growth=_number(obs.metadata, names.META_ROW_GROWTH),
        )
    performance, more_performance = _read_new(
        instance, dg.AssetKey([spec.name, names.PERFORMANCE]), performance_after, MAX_EVENTS_PER_TICK
    )
    for record in performance:
        obs = record.event_log_entry.asset_observation
        performance_after = record.storage_id
        if obs.partition is None:
            continue
        entry = results.get(obs.partition) or PartitionResult(
            obs.partition, NO_DATA, None, False, record.storage_id
        )
        results[obs.partition] = replace(
            entry,
            kpi_breach=bool(metadata_value(obs.metadata, names.META_KPI_BREACH)),
            realized_degraded=_verdict(obs.metadata, names.META_REALIZED_DEGRADED),
        )
    updated = SensorCursor.of(drift_after, performance_after, results.values())
    return updated, len(drift) + len(performance), more_drift or more_performance
