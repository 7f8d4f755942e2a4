"""Time partitions per project, derived from the spec's grain, start and end."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from mlops_pipelines.spec import Grain, ProjectSpec


def partitions_for(spec: ProjectSpec) -> dg.TimeWindowPartitionsDefinition:
    start = spec.partitions.start.isoformat()
    end = spec.partitions.end.isoformat() if spec.partitions.end else None
    if spec.partitions.grain is Grain.HOURLY:
        return dg.HourlyPartitionsDefinition(
            start_date=f"{start}-00:00", end_date=f"{end}-00:00" if end else None
        )
    if spec.partitions.grain is Grain.WEEKLY:
        # Weeks start on Monday (ISO), not Dagster's default Sunday.
        return dg.WeeklyPartitionsDefinition(start_date=start, end_date=end, day_offset=1)
    return dg.DailyPartitionsDefinition(start_date=start, end_date=end)


def partition_window(spec: ProjectSpec, key: str) -> tuple[datetime, datetime]:
    """[start, end) of one partition key, as naive datetimes (the data's clock)."""
    window = partitions_for(spec).time_window_for_partition_key(key)
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)


def partition_keys(spec: ProjectSpec) -> list[str]:
    return list(partitions_for(spec).get_partition_keys())
