"""Reads each project's pipeline state from the Dagster instance (DAGSTER_HOME): drift
observations, retrain runs, champion decisions, raw partitions, check failures, quarantine.

The instance is opened once and kept; a failed read disposes it, so the next scrape opens it
again (the store may have come back). Counters fold in only the events after the newest one
already counted (`state.Tally`), so a long history is read once per exporter process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from mlops_pipelines import names
from mlops_pipelines.observability.metric_names import SOURCE_DAGSTER
from mlops_pipelines.observability.state import (
    DRIFT_PARTITIONS,
    PipelineState,
    Tally,
    decision_key,
    newest_drift,
    plain,
    quarantined_in_run,
)
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

PAGE = 1000
# Every asset check of a project's graph, as (asset, check): validation, raw health, the gate's
# promotable check, drift and KPIs. A failed evaluation of any is a validation failure to count.
CHECKS = (
    (names.RAW, names.SCHEMA_CHECK),
    (names.RAW, names.FRESHNESS_CHECK),
    (names.RAW, names.ROW_COUNT_CHECK),
    (names.VALIDATED, names.EXPECTATIONS_CHECK),
    (names.EVALUATION, names.PROMOTABLE_CHECK),
    (names.DRIFT, names.DRIFT_CHECK),
    (names.PERFORMANCE, names.KPI_CHECK),
)
FAILED = "failed"
ROWS = "rows"
RUN_STATUSES = {"success": dg.DagsterRunStatus.SUCCESS, "failure": dg.DagsterRunStatus.FAILURE}


class DagsterSource:
    name = SOURCE_DAGSTER

    def __init__(
        self,
        specs: Sequence[ProjectSpec],
        instance: dg.DagsterInstance | None = None,
        drift_partitions: int = DRIFT_PARTITIONS,
    ) -> None:
        self._specs = list(specs)
        # Given: the caller's (a test's) and never disposed here; else DAGSTER_HOME's, opened on read.
        self._given = instance
        self._instance = instance
        self._drift_partitions = drift_partitions
        self._tallies: dict[str, Tally] = {}
        self._partitions: dict[str, dg.PartitionsDefinition] = {}
        self._empty_noted = False

    def setting(self) -> str:
        return f"DAGSTER_HOME={os.environ.get('DAGSTER_HOME') or '(unset)'}"

    def read(self) -> tuple[PipelineState, ...]:
        if self._instance is None:
            self._instance = dg.DagsterInstance.get()
        try:
            if not self._empty_noted and self._instance.get_runs_count() == 0:
                # Zeros are true of an empty instance, but an empty instance is more often the wrong one.
                log.warning("exporter: the Dagster instance at %s holds no runs yet", self.setting())
                self._empty_noted = True
            return tuple(self._project(self._instance, spec) for spec in self._specs)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._instance is not None and self._instance is not self._given:
            self._instance.dispose()
        self._instance = self._given
        # Counted again from the start on the next read: the store that comes back may not be the
        # same one (a restored backup), and a tally must never skip its events.
        self._tallies.clear()

    def _project(self, instance: dg.DagsterInstance, spec: ProjectSpec) -> PipelineState:
        project = spec.name
        observations = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey([project, names.DRIFT])),
            limit=4 * self._drift_partitions,
        ).records
        drift = newest_drift(
            (
                (r.storage_id, r.partition_key, plain(r.event_log_entry.asset_observation.metadata))
                for r in observations
                if r.event_log_entry.asset_observation is not None
            ),
            self._drift_partitions,
        )
        decisions = self._fold_materializations(
            instance, project, names.CHAMPION, lambda _, m: (decision_key(m), 1)
        )
        quarantine = self._fold_materializations(
            instance, project, names.VALIDATED, lambda p, m: (ROWS, quarantined_in_run(p, m))
        )
        newest, newest_end, last_ingest = self._raw(instance, spec)
        return PipelineState(
            project=project,
            drift=drift,
            retrains={
                status: self._runs(instance, project, wanted) for status, wanted in RUN_STATUSES.items()
            },
            decisions=dict(decisions.counts),
            newest_partition=newest,
            newest_partition_end=newest_end,
            last_ingest=last_ingest,
            check_failures={
                (asset, check): self._fold_check(instance, project, asset, check).count(FAILED)
                for asset, check in CHECKS
            },
            quarantined_rows=quarantine.count(ROWS),
        )

    @staticmethod
    def _runs(instance: dg.DagsterInstance, project: str, status: dg.DagsterRunStatus) -> int:
        job = names.scoped(project, names.RETRAIN_JOB)
        return instance.get_runs_count(dg.RunsFilter(job_name=job, statuses=[status]))

    def _fold_materializations(
        self,
        instance: dg.DagsterInstance,
        project: str,
        asset: str,
        counted: Callable[[str | None, Mapping[str, Any]], tuple[str | None, int]],
    ) -> Tally:
        """The tally of `asset`'s materializations, each counted as `counted(partition, metadata)`."""
        slot = f"{project}/{asset}"
        tally = start = self._tallies.get(slot, Tally())
        cursor = None
        while True:
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey([project, asset]), after_storage_id=start.after),
                limit=PAGE,
                cursor=cursor,
                ascending=True,
            )
            events = []
            for record in page.records:
                materialization = record.event_log_entry.asset_materialization
                metadata = plain(materialization.metadata) if materialization is not None else {}
                events.append((record.storage_id, *counted(record.partition_key, metadata)))
            tally = tally.fold(events)
            if not page.has_more:
                break
            cursor = page.cursor
        self._tallies[slot] = tally
        return tally

    def _fold_check(self, instance: dg.DagsterInstance, project: str, asset: str, check: str) -> Tally:
        """The tally of the check's failed evaluations (the history reads newest first)."""
        slot = f"{project}/{asset}/{check}"
        tally = self._tallies.get(slot, Tally())
        key = dg.AssetCheckKey(dg.AssetKey([project, asset]), check)
        fresh: list[int] = []
        cursor = None
        while True:
            page = instance.event_log_storage.get_asset_check_execution_history(
                key, limit=PAGE, cursor=cursor, status={AssetCheckExecutionRecordStatus.FAILED}
            )
            new = [r.id for r in page if tally.after is None or r.id > tally.after]
            fresh.extend(new)
            if len(page) < PAGE or len(new) < len(page):
                break
            cursor = page[-1].id
        tally = tally.fold((storage_id, FAILED, 1) for storage_id in sorted(fresh))
        self._tallies[slot] = tally
        return tally

    def _raw(
        self, instance: dg.DagsterInstance, spec: ProjectSpec
    ) -> tuple[str | None, float | None, float | None]:
        """The newest raw partition, its end (unix seconds) and raw's newest write."""
        key = dg.AssetKey([spec.name, names.RAW])
        latest = instance.fetch_materializations(key, limit=1).records
        last_ingest = latest[0].timestamp if latest else None
        partitions = instance.get_materialized_partitions(key)
        if not partitions:
            return None, None, last_ingest
        newest = max(partitions)  # partition keys sort as time
        if spec.name not in self._partitions:
            self._partitions[spec.name] = partitions_for(spec)
        definition = self._partitions[spec.name]
        if not isinstance(definition, dg.TimeWindowPartitionsDefinition):
            return newest, None, last_ingest
        try:
            end = definition.time_window_for_partition_key(newest).end
        except ValueError:  # a key of an older partitioning (Dagster cannot parse it): no end to show
            return newest, None, last_ingest
        # Partition times are the data's clock, kept as UTC (partitions.partition_window drops the zone).
        return (
            newest,
            end.replace(tzinfo=UTC).timestamp() if end.tzinfo is None else end.timestamp(),
            last_ingest,
        )
