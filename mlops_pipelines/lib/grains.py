"""Partition grains without Dagster: the first partition's start and each timestamp's key.

pandas and numpy are imported inside the functions: partitions.py loads this module.

Grains: hourly, daily, weekly (weeks start on `partitions.week_start`, Monday by default),
monthly, quarterly (January, April, July, October) and yearly. Keys are the period's start:
'YYYY-MM-DD-HH:00' hourly, 'YYYY-MM-DD' otherwise, as Dagster's partition definitions
(`mlops_pipelines.partitions`) spell them.

The first partition starts at `partitions.start` rounded DOWN to its period (`anchored_start`):
a weekly spec starting on a Sunday whose weeks start on Monday begins with the week holding
that Sunday, so no row between the start and the first anchor is dropped.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOURLY_FORMAT = "%Y-%m-%d-%H:00"
DAY_FORMAT = "%Y-%m-%d"
# Cron of each calendar grain's period starts (Dagster's TimeWindowPartitionsDefinition).
CALENDAR_CRONS = {"monthly": "0 0 1 * *", "quarterly": "0 0 1 */3 *", "yearly": "0 0 1 1 *"}


def anchored_start(grain: str, start: date, week_start: str = "monday") -> date:
    """The start of the period of `grain` that holds `start`."""
    if grain == "weekly":
        return start - timedelta(days=(start.weekday() - WEEKDAYS.index(week_start)) % 7)
    if grain == "monthly":
        return start.replace(day=1)
    if grain == "quarterly":
        return start.replace(month=3 * ((start.month - 1) // 3) + 1, day=1)
    if grain == "yearly":
        return start.replace(month=1, day=1)
    return start


def dagster_day_offset(week_start: str) -> int:
    """Dagster's `day_offset` of a weekday name (0 = Sunday, 1 = Monday, ...)."""
    return (WEEKDAYS.index(week_start) + 1) % 7


def period_starts(times: pd.Series, grain: str, week_start: str = "monday") -> np.ndarray:
    """The start of each timestamp's period (naive datetime64; NaT stays NaT)."""
    import numpy as np
    import pandas as pd

    values = pd.to_datetime(times).to_numpy(dtype="datetime64[ns]")
    if grain == "hourly":
        return values.astype("datetime64[h]")
    days = values.astype("datetime64[D]")
    if grain == "daily":
        return days
    if grain == "weekly":
        # Day 0 (1970-01-01) was a Thursday (weekday 3); step back to the anchor weekday.
        weekday = (days.astype("int64") + 3) % 7
        back = (weekday - WEEKDAYS.index(week_start)) % 7
        return np.where(np.isnat(days), days, days - back.astype("timedelta64[D]"))
    months = values.astype("datetime64[M]")
    if grain == "monthly":
        return months.astype("datetime64[D]")
    if grain == "quarterly":
        count = months.astype("int64")
        quarters = (count - count % 3).astype("datetime64[M]")
        return np.where(np.isnat(months), months, quarters).astype("datetime64[D]")
    if grain == "yearly":
        return values.astype("datetime64[Y]").astype("datetime64[D]")
    raise ValueError(f"unknown grain {grain!r}")


def partition_keys(times: pd.Series, grain: str, week_start: str = "monday") -> pd.Series:
    """Each timestamp's partition key (NaT gives NaN), formatted once per distinct period."""
    import numpy as np
    import pandas as pd

    starts = period_starts(times, grain, week_start)
    distinct, inverse = np.unique(starts, return_inverse=True)
    labels = pd.DatetimeIndex(distinct).strftime(HOURLY_FORMAT if grain == "hourly" else DAY_FORMAT)
    keyed = np.asarray(labels, dtype=object)[inverse.reshape(-1)]
    return pd.Series(keyed, index=times.index, dtype=object)
