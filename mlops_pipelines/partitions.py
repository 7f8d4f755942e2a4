"""Time partitions per project, derived from the spec's grain, start and end."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from mlops_pipelines.lib.data_end import data_end
from mlops_pipelines.lib.grains import CALENDAR_CRONS, DAY_FORMAT, anchored_start, dagster_day_offset
from mlops_pipelines.spec import Grain, ProjectSpec


def partitions_for(spec: ProjectSpec) -> dg.TimeWindowPartitionsDefinition:
    grain, week_start = spec.partitions.grain, spec.partitions.week_start
    # Rounded down to its period: rows between `start` and the first anchor are never dropped.
    start = anchored_start(grain.value, spec.partitions.start, week_start).isoformat()
    known = data_end(spec)  # where the data ends (lib/data_end.py); None: a live source, to today
    end = known.end.isoformat() if known else None
    if grain is Grain.HOURLY:
        return dg.HourlyPartitionsDefinition(
            start_date=f"{start}-00:00", end_date=f"{end}-00:00" if end else None
        )
    if grain is Grain.WEEKLY:
        # Weeks start on `partitions.week_start` (default Monday, ISO), not Dagster's Sunday.
        return dg.WeeklyPartitionsDefinition(
            start_date=start, end_date=end, day_offset=dagster_day_offset(week_start)
        )
    if grain.value in CALENDAR_CRONS:
        return dg.TimeWindowPartitionsDefinition(
            cron_schedule=CALENDAR_CRONS[grain.value], start=start, end=end, fmt=DAY_FORMAT
        )
    return dg.DailyPartitionsDefinition(start_date=start, end_date=end)


def partition_window(spec: ProjectSpec, key: str) -> tuple[datetime, datetime]:
    """[start, end) of one partition key, as naive datetimes (the data's clock)."""
    window = partitions_for(spec).time_window_for_partition_key(key)
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)


def partition_keys(spec: ProjectSpec) -> list[str]:
    return list(partitions_for(spec).get_partition_keys())
