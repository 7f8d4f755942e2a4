"""The retraining sensor: reads every monitoring result since its cursor, asks the pure policy
(`lib.monitoring.policy.should_retrain`) and requests the retrain job with a run key derived from the
triggering partition and attempt.

Dagster's `@asset_sensor` sees only the latest event between ticks, so this sensor walks the
event log itself. Its state (`SensorCursor`) keeps the storage ids it has read up to and the
recent per-partition results, so a restart from a stored cursor decides exactly as before. The
cursor Dagster stores is a short pointer to that state (`sensor_state`); the cursors of earlier
releases (v2, v1, unversioned) still load.

A cursor that cannot be read (corrupt, or written by a newer version) starts the sensor afresh,
with a warning in the tick's log: the state only caches what the event log and the run history
hold, so re-reading them from the start decides the same, and run keys stop any duplicate run.
A skip says in one line what would make the sensor act (`sensor_reasons`). Each tick first fails
retrain runs past their start or runtime limits (`run_limits`): one a killed process left
STARTED would otherwise read as "still running" forever.
"""

from __future__ import annotations

import time

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.alert_outbox import flush_held, note_delivery, send_or_hold
from mlops_pipelines.jobs import daily_job_name, retrain_job_name
from mlops_pipelines.lib.monitoring.policy import (
    MonitoringObservation,
    RetrainRecord,
    should_retrain,
)
from mlops_pipelines.lib.monitoring.policy_records import GateOutcome, evidence_share, relative_gain
from mlops_pipelines.lib.monitoring.policy_timing import timely_as_of
from mlops_pipelines.partitions import partition_keys
from mlops_pipelines.resources import AlertSink
from mlops_pipelines.run_limits import RunTimes, stale_reason
from mlops_pipelines.sensor_cursor import CursorError, PartitionResult, SensorCursor
from mlops_pipelines.sensor_reading import absorb, metadata_value
from mlops_pipelines.sensor_reasons import skip_reason
from mlops_pipelines.sensor_state import load_state, store_state
from mlops_pipelines.settings import sensor_interval_seconds
from mlops_pipelines.spec import ProjectSpec

__all__ = ["CursorError", "PartitionResult", "SensorCursor", "absorb", "build_retrain_sensor", "rebased"]


def rebased(cursor: SensorCursor, history: list[RetrainRecord]) -> list[MonitoringObservation]:
    """Observations the policy should judge: only those after the newest successful retrain's as-of.

    A successful retrain re-bases monitoring on a new champion (its own training window and
    expectations). Results that name the champion they judged are left to the policy, which
    keeps the current champion's; results that name none (older observations) are cut at the
    newest successful retrain's as-of.
    """
    done = [r.anchor for r in history if r.succeeded]
    since = max(done) if done else ""
    return [r.observation() for r in cursor.results if r.champion_version is not None or r.partition > since]


def gate_outcome(spec: ProjectSpec, instance: dg.DagsterInstance, run_id: str) -> GateOutcome:
    """What a finished retrain run's gate decided: promoted, paid off, its gain relative to the
    champion's score, and for insufficient evidence the share of the rows it needed that it had.

    Promoted: its champion step put the challenger live (the policy's cooldown counts from such
    runs); None when the run recorded no verdict. Paid off: promoted and it scored better than
    the champion it was judged against (what the policy's follow-up reads); None when the run
    has no gate decision against a champion (the first model, insufficient evidence, a failure),
    as the backtest replays it: a challenger worse on too few rows is no miss of the chain."""
    from mlops_pipelines.assets.common import asset_key

    key = asset_key(spec, names.CHAMPION)
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        event = entry.dagster_event
        materialization = None if event is None else event.event_specific_data.materialization  # type: ignore[union-attr]
        if materialization is None or materialization.asset_key != key:
            continue
        metadata = dict(materialization.metadata)
        verdict, improvement = (
            metadata_value(metadata, names.META_VERDICT),
            metadata_value(metadata, names.META_IMPROVEMENT),
        )
        if verdict == "insufficient_evidence":
            compared = metadata_value(metadata, names.META_COMPARED_ROWS)
            share = evidence_share(None if compared is None else int(compared), spec.promotion.min_rows)
            return GateOutcome(False, None, share)
        promoted = None if verdict is None else verdict == "promote"
        if promoted is None or improvement is None:
            return GateOutcome(promoted, None)
        gain = relative_gain(float(improvement), metadata_value(metadata, names.META_CHAMPION_SCORE))
        return GateOutcome(promoted, promoted and float(improvement) > 0, gain=gain)
    return GateOutcome(None, None)


def fail_stale_retrains(spec: ProjectSpec, instance: dg.DagsterInstance, now: float) -> list[str]:
    """Fail the project's retrain runs past their start or runtime limits (`run_limits`), so a run
    orphaned where no run monitoring runs does not block retraining forever; returns the reasons."""
    records = instance.get_run_records(
        dg.RunsFilter(
            job_name=retrain_job_name(spec),
            statuses=[
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    reasons = []
    for record in records:
        run = record.dagster_run
        times = RunTimes(
            run.run_id,
            run.status.value,
            record.create_timestamp.timestamp(),
            record.start_time,
            dict(run.tags),
        )
        reason = stale_reason(times, now)
        if reason is not None:
            instance.report_run_failed(run, f"failed by the retraining sensor: {reason}")
            reasons.append(reason)
    return reasons


def retrain_history(spec: ProjectSpec, instance: dg.DagsterInstance) -> list[RetrainRecord]:
    """Every retrain run that names the partition it trained up to (drift-triggered or bootstrap),
    and for a finished one whether its model went live and whether it paid off."""
    runs = instance.get_runs(dg.RunsFilter(job_name=retrain_job_name(spec)))
    history = []
    for run in runs:
        if names.TRIGGER_TAG not in run.tags:
            continue
        status = run.status
        succeeded = (
            True
            if status == dg.DagsterRunStatus.SUCCESS
            else (False if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED) else None)
        )
        outcome = gate_outcome(spec, instance, run.run_id) if succeeded else GateOutcome(None, None)
        history.append(
            RetrainRecord(
                run.tags[names.TRIGGER_TAG],
                run.tags.get(names.RUN_KEY_TAG, ""),
                succeeded,
                run.tags.get(names.AS_OF_TAG),
                outcome.improved,
                outcome.promoted,
                outcome.evidence_share,
                outcome.gain,
            )
        )
    return sorted(history, key=lambda r: r.partition)


def build_retrain_sensor(spec: ProjectSpec) -> dg.SensorDefinition:
    keys = partition_keys(spec)
    model_op = names.scoped(spec.name, names.MODEL)
    sensor_name = names.scoped(spec.name, names.RETRAIN_SENSOR)

    @dg.sensor(
        name=sensor_name,
        job_name=retrain_job_name(spec),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval_seconds(),
        description=(
            f"Retrain {spec.name} when realized performance is worse than expected on "
            f"{spec.retraining.performance_consecutive} labelled partitions in a row, on an unexplained KPI "
            f"breach, or on calibrated drift in {spec.retraining.consecutive_drift} consecutive partitions "
            f"that the performance signals do not contradict; cooldown {spec.retraining.cooldown_partitions} "
            f"partitions after the as-of of the last retrain that went live, at most {spec.retraining.max_retrains} per "
            f"{spec.retraining.per_partitions}; failed retrains are retried."
        ),
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext, alerts: AlertSink) -> dg.SensorResult:
        for stale in fail_stale_retrains(spec, context.instance, time.time()):
            context.log.warning(stale)
        note_delivery(context.log, flush_held(alerts, context.instance, spec.name), late=True)
        state, pointer = load_state(context, sensor_name)
        cursor, absorbed, backlog = absorb(state, spec, context.instance)
        if backlog:
            stored = store_state(context.instance, sensor_name, cursor, pointer)
            reason = f"catching up on a backlog: read {absorbed} monitoring results, more next tick"
            return dg.SensorResult(skip_reason=reason, cursor=stored)
        history = retrain_history(spec, context.instance)
        observations = rebased(cursor, history)
        decision = should_retrain(observations, history, spec.retraining, keys)
        stored = store_state(context.instance, sensor_name, cursor, pointer)
        if not decision.retrain or decision.run_key is None:
            for warning in decision.warnings[-1:]:
                context.log.warning(warning)
            reason = skip_reason(
                decision, observations, history, keys, spec.retraining, daily_job_name(spec), absorbed
            )
            return dg.SensorResult(skip_reason=reason, cursor=stored)
        newest = cursor.results[-1].partition
        # Where a sensor running as each partition closed would have acted (`policy_timing`): a
        # sensor that does trains up to the newest partition; one reading a backlog, no further.
        delay = spec.monitoring.label_delay_partitions
        as_of = timely_as_of(decision, observations, history, spec.retraining, keys, delay, newest)
        # An alert outage delays the alert (held in the instance), never the retrain.
        delivery = send_or_hold(
            alerts,
            context.instance,
            spec.name,
            "warning",
            f"retraining: {decision.reason}",
            {"trigger_partition": decision.trigger_partition, "as_of": as_of, "run_key": decision.run_key},
        )
        note_delivery(context.log, delivery, late=False)
        request = dg.RunRequest(
            run_key=decision.run_key,
            run_config={"ops": {model_op: {"config": {"as_of": as_of, "reason": decision.reason[:200]}}}},
            tags={
                names.KIND_TAG: names.KIND_RETRAIN,
                names.TRIGGER_TAG: decision.trigger_partition or newest,
                names.AS_OF_TAG: as_of,
                names.REASON_TAG: decision.reason[:250],
                names.ATTEMPT_TAG: str(decision.attempt),
                names.TRIGGERING_EVENTS_TAG: ",".join(map(str, decision.triggering_events))[:250],
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=stored)

    return retrain_on_drift
