"""The retraining sensor: reads every monitoring result since its cursor, asks the pure policy
(`lib.monitoring.policy.should_retrain`) and requests the retrain job with a run key derived from the
triggering partition and attempt.

Dagster's `@asset_sensor` sees only the latest event between ticks, so this sensor walks the
event log itself. Its cursor keeps the storage ids it has read up to and the recent
per-partition results, so a restart from a stored cursor decides exactly as before.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from mlops_pipelines.jobs import retrain_job_name
from mlops_pipelines.lib.monitoring.policy import MonitoringObservation, RetrainRecord, should_retrain
from mlops_pipelines.partitions import partition_keys
from mlops_pipelines.resources import AlertSink
from mlops_pipelines.spec import ProjectSpec

TRIGGER_TAG = "mlops/trigger_partition"
KIND_TAG = "mlops/kind"
REASON_TAG = "mlops/reason"
HISTORY_LIMIT = 800  # per-partition results kept in the cursor (covers every policy window here)
PAGE = 1000


@dataclass
class SensorState:
    drift_after: int | None = None
    performance_after: int | None = None
    # partition -> [status, drift_share, kpi_breach, event_id]
    results: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def to_cursor(self) -> str:
        kept = dict(sorted(self.results.items())[-HISTORY_LIMIT:])
        return json.dumps({**asdict(self), "results": kept}, sort_keys=True)


def _read_new(instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None) -> list[Any]:
    records: list[Any] = []
    cursor = None
    while True:
        page = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
            limit=PAGE,
            cursor=cursor,
            ascending=True,
        )
        records.extend(page.records)
        if not page.has_more:
            return records
        cursor = page.cursor


def _value(metadata: dict[str, Any], name: str, default: Any) -> Any:
    entry = metadata.get(name)
    return default if entry is None else getattr(entry, "value", entry)


def absorb(state: SensorState, spec: ProjectSpec, instance: dg.DagsterInstance) -> int:
    """Fold every new drift and performance observation into the state; return how many."""
    drift = _read_new(instance, dg.AssetKey([spec.name, "drift"]), state.drift_after)
    for record in drift:
        obs = record.event_log_entry.asset_observation
        entry = state.results.setdefault(obs.partition, ["insufficient_data", 0.0, False, record.storage_id])
        entry[0] = str(_value(obs.metadata, "status", "invalid"))
        entry[1] = float(_value(obs.metadata, "drift_share", 0.0))
        entry[3] = record.storage_id
        state.drift_after = record.storage_id
    performance = _read_new(instance, dg.AssetKey([spec.name, "performance"]), state.performance_after)
    for record in performance:
        obs = record.event_log_entry.asset_observation
        entry = state.results.setdefault(obs.partition, ["insufficient_data", 0.0, False, record.storage_id])
        entry[2] = bool(_value(obs.metadata, "kpi_breach", False))
        state.performance_after = record.storage_id
    return len(drift) + len(performance)


def rebased(state: SensorState, history: list[RetrainRecord]) -> list[MonitoringObservation]:
    """Observations the policy should judge: only those after the last successful retrain.

    A successful retrain re-bases monitoring on a new reference (its own training window), so
    drift that persists after it is a new episode (still subject to cooldown and the cap).
    """
    done = [r.partition for r in history if r.succeeded]
    since = max(done) if done else ""
    return [
        MonitoringObservation(partition, status, share, breach, event)
        for partition, (status, share, breach, event) in sorted(state.results.items())
        if partition > since
    ]


def retrain_history(spec: ProjectSpec, instance: dg.DagsterInstance) -> list[RetrainRecord]:
    """Every retrain run that names the partition it trained up to (drift-triggered or bootstrap)."""
    runs = instance.get_runs(dg.RunsFilter(job_name=retrain_job_name(spec)))
    history = []
    for run in runs:
        if TRIGGER_TAG not in run.tags:
            continue
        status = run.status
        succeeded = (
            True
            if status == dg.DagsterRunStatus.SUCCESS
            else (False if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED) else None)
        )
        history.append(RetrainRecord(run.tags[TRIGGER_TAG], run.tags.get("dagster/run_key", ""), succeeded))
    return sorted(history, key=lambda r: r.partition)


def build_retrain_sensor(spec: ProjectSpec) -> dg.SensorDefinition:
    keys = partition_keys(spec)
    model_op = f"{spec.name}__model"

    @dg.sensor(
        name=f"{spec.name}__retrain_on_drift",
        job_name=retrain_job_name(spec),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description=(
            f"Retrain {spec.name} on drift in {spec.retraining.consecutive_drift} consecutive partitions or a "
            f"KPI breach; cooldown {spec.retraining.cooldown_partitions} partitions, at most "
            f"{spec.retraining.max_retrains} per {spec.retraining.per_partitions}; failed retrains are retried."
        ),
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext, alerts: AlertSink) -> dg.SensorResult:
        state = SensorState.from_cursor(context.cursor)
        absorbed = absorb(state, spec, context.instance)
        history = retrain_history(spec, context.instance)
        decision = should_retrain(rebased(state, history), history, spec.retraining, keys)
        cursor = state.to_cursor()
        if not decision.retrain or decision.run_key is None:
            return dg.SensorResult(skip_reason=f"{decision.reason} ({absorbed} new results)", cursor=cursor)
        newest = max(state.results)
        alerts.send(
            spec.name,
            "warning",
            f"retraining: {decision.reason}",
            {"trigger_partition": decision.trigger_partition, "run_key": decision.run_key},
        )
        request = dg.RunRequest(
            run_key=decision.run_key,
            run_config={"ops": {model_op: {"config": {"as_of": newest, "reason": decision.reason[:200]}}}},
            tags={
                KIND_TAG: "retrain",
                TRIGGER_TAG: decision.trigger_partition or newest,
                REASON_TAG: decision.reason[:250],
                "mlops/attempt": str(decision.attempt),
                "mlops/triggering_events": ",".join(map(str, decision.triggering_events))[:250],
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return retrain_on_drift
