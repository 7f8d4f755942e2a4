"""Schedules per project: the daily cycle, late labels, and a periodic retraining fallback.

All start RUNNING with `dagster dev`, so a fresh instance keeps itself fed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.jobs import daily_job_name, labels_job_name, retrain_job_name
from mlops_pipelines.lib.grains import dagster_day_offset
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import Grain, ProjectSpec

CRON = {Grain.HOURLY: "15 * * * *", Grain.DAILY: "30 0 * * *", Grain.WEEKLY: "30 0 * * 1"}
CRON |= {Grain.MONTHLY: "30 0 1 * *", Grain.QUARTERLY: "30 0 1 */3 *", Grain.YEARLY: "30 0 1 1 *"}


def labels_cron(spec: ProjectSpec) -> str:
    """When the labels schedule looks: after each partition closes (weekly: on its anchor day)."""
    if spec.partitions.grain is Grain.WEEKLY:
        return f"30 0 * * {dagster_day_offset(spec.partitions.week_start)}"
    return CRON[spec.partitions.grain]


def build_schedules(spec: ProjectSpec, jobs: dict[str, dg.UnresolvedAssetJobDefinition]) -> list[Any]:
    partitions = partitions_for(spec)
    delay = spec.monitoring.label_delay_partitions
    model_op = names.scoped(spec.name, names.MODEL)  # the model asset's op, whose config takes the reason

    daily = dg.build_schedule_from_partitioned_job(
        jobs[daily_job_name(spec)],
        name=names.scoped(spec.name, names.DAILY_SCHEDULE),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Ingest, validate, build features, score and monitor the partition that just closed.",
    )

    @dg.schedule(
        name=names.scoped(spec.name, names.LABELS_SCHEDULE),
        job=jobs[labels_job_name(spec)],
        cron_schedule=labels_cron(spec),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Join labels that arrive {delay} partition(s) late to the logged predictions.",
    )
    def labels(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        closed = context.scheduled_execution_time - spec.partitions.grain.delta * (delay + 1)
        keys = partitions.get_partition_keys(current_time=closed + timedelta(seconds=1))
        if not keys:
            return dg.SkipReason("no partition has labels yet")
        return dg.RunRequest(partition_key=keys[-1], run_key=f"labels:{keys[-1]}")

    @dg.schedule(
        name=names.scoped(spec.name, names.FALLBACK_SCHEDULE),
        job=jobs[retrain_job_name(spec)],
        cron_schedule=spec.retraining.fallback_cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Periodic retraining even without drift; the promotion gate still decides.",
    )
    def fallback(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            run_config={"ops": {model_op: {"config": {"reason": "scheduled fallback"}}}},
            tags={names.KIND_TAG: names.KIND_SCHEDULED},
        )

    return [daily, labels, fallback]
