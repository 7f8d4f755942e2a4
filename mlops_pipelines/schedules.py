"""Schedules per project: the daily cycle, late labels, and a periodic retraining fallback.

All start RUNNING with `dagster dev`, so a fresh instance keeps itself fed, and each one skips
with a reason instead of asking for what cannot exist:
- the daily cycle requests the partition that just closed, and the labels schedule the one
  whose labels are due (`monitoring.label_delay_partitions` later); past the data's end
  (`lib/data_end.py`: a finished dataset) there is no such partition, so both skip naming the
  setting that ends the data;
- the fallback retrain needs features to train on and something new since the last retrain:
  without a features materialization (a fresh project) or with none since the last successful
  retrain (a finished dataset, a stalled feed) it skips, saying which job would change that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.jobs import daily_job_name, data_job_name, labels_job_name, retrain_job_name
from mlops_pipelines.lib.data_end import data_end
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import Grain, ProjectSpec


def due_partition(spec: ProjectSpec, at: datetime, lag: int) -> tuple[str | None, str]:
    """The partition `lag` periods before the one that just closed at `at`, or None and why."""
    partitions = partitions_for(spec)
    # The same periods without an end: where the clock is, even past the data's end.
    clock = dg.TimeWindowPartitionsDefinition(
        start=partitions.start,
        cron_schedule=partitions.cron_schedule,
        fmt=partitions.fmt,
        timezone=partitions.timezone,
    )
    window = None
    if at.timestamp() >= clock.start.timestamp():
        current = clock.time_window_for_partition_key(clock.get_partition_key_for_timestamp(at.timestamp()))
        window = clock.get_prev_partition_window(current.start)
    for _ in range(lag):
        window = clock.get_prev_partition_window(window.start) if window else None
    if window is None:
        first = partitions.get_first_partition_key()
        return None, f"no partition is due yet: the first, {first}, has not closed {lag} period(s) ago"
    key = clock.get_partition_key_for_timestamp(window.start.timestamp())
    if partitions.has_partition_key(key):
        return key, ""
    known = data_end(spec)
    end = f"{known.end} ({known.setting})" if known else "its end"
    return (
        None,
        f"the data ends at {end}: no partition after {partitions.get_last_partition_key()} to request",
    )


def last_materialized(instance: dg.DagsterInstance, key: dg.AssetKey) -> float | None:
    """When the asset was last materialized (a timestamp), None if never."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1, ascending=False)
    return records.records[0].timestamp if records.records else None


def last_successful_retrain(instance: dg.DagsterInstance, job: str) -> float | None:
    """When the newest successful run of the retrain job ended (a timestamp), None if none."""
    filters = dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS])
    records = instance.get_run_records(filters=filters, limit=1)
    if not records:
        return None
    return records[0].end_time or records[0].update_timestamp.timestamp()


def build_schedules(spec: ProjectSpec, jobs: dict[str, dg.UnresolvedAssetJobDefinition]) -> list[Any]:
    partitions = partitions_for(spec)
    delay = spec.monitoring.label_delay_partitions
    model_op = names.scoped(spec.name, names.MODEL)  # the model asset's op, whose config takes the reason
    features = dg.AssetKey([spec.name, names.FEATURES])
    # A quarter past the hour for hourly data, half past midnight at each period's start otherwise.
    labels_cron = partitions.get_cron_schedule(
        minute_of_hour=15 if spec.partitions.grain is Grain.HOURLY else 30
    )

    @dg.schedule(
        name=names.scoped(spec.name, names.DAILY_SCHEDULE),
        job=jobs[daily_job_name(spec)],
        cron_schedule=partitions.get_cron_schedule(),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Ingest, validate, build features, score and monitor the partition that just closed.",
    )
    def daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        key, why = due_partition(spec, context.scheduled_execution_time, 0)
        if key is None:
            return dg.SkipReason(why)
        return dg.RunRequest(partition_key=key, run_key=f"daily:{key}")

    @dg.schedule(
        name=names.scoped(spec.name, names.LABELS_SCHEDULE),
        job=jobs[labels_job_name(spec)],
        cron_schedule=labels_cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Join labels that arrive {delay} partition(s) late to the logged predictions.",
    )
    def labels(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        key, why = due_partition(spec, context.scheduled_execution_time, delay)
        if key is None:
            return dg.SkipReason(why)
        return dg.RunRequest(partition_key=key, run_key=f"labels:{key}")

    @dg.schedule(
        name=names.scoped(spec.name, names.FALLBACK_SCHEDULE),
        job=jobs[retrain_job_name(spec)],
        cron_schedule=spec.retraining.fallback_cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Periodic retraining even without drift, when there is new data; the promotion gate still decides.",
    )
    def fallback(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        built = last_materialized(context.instance, features)
        if built is None:
            return dg.SkipReason(
                f"nothing to train on: {spec.name}/{names.FEATURES} has no materialization yet; "
                f"acts after {data_job_name(spec)} or {daily_job_name(spec)} builds features"
            )
        retrained = last_successful_retrain(context.instance, retrain_job_name(spec))
        if retrained is not None and built <= retrained:
            return dg.SkipReason(
                f"no new features since the last retrain; acts after {daily_job_name(spec)} adds a partition"
            )
        return dg.RunRequest(
            run_config={"ops": {model_op: {"config": {"reason": "scheduled fallback"}}}},
            tags={names.KIND_TAG: names.KIND_SCHEDULED},
        )

    return [daily, labels, fallback]
