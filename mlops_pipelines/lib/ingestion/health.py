"""Raw data health per partition: is its data late (freshness), and is its row count unusual?

Both read the data's own clock, not the wall clock, so a replay of 2011 judges 2011's data as
it arrived then, and a live feed is judged the same way:
- freshness: how long before its partition closed the newest row's data ends. A feed that stops
  early leaves the end of the partition empty: past `monitoring.freshness_warn_after` that is a
  WARN, past `freshness_error_after` (or no row at all) an ERROR. Unset, they are an eighth and
  a quarter of the partition (3 h and 6 h of a day). A row covers the data's own time step
  (`time_step`): a date covers its day, an hour's row its hour, so daily data stamped at
  midnight is not a day late, and a feed of hourly rows ends at its last hour's end;
- row count: a partition's rows against the median of the `row_count_window` partitions before
  it that hold rows; below `row_count_low` or above `row_count_high` times that median is a
  WARN, no rows where recent partitions had some an ERROR. With fewer than 3 earlier partitions
  there is no baseline and no verdict.
Pure: no dagster.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.spec import ProjectSpec

Status = Literal["ok", "warn", "error"]
MIN_HISTORY = 3  # earlier partitions needed before a median is a baseline
_RANK = {"ok": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class Freshness:
    partition: str
    status: Status
    newest: datetime | None  # the newest row's time (None: no rows)
    lateness: timedelta  # from the newest row's step end (or the partition's start) to its end


@dataclass(frozen=True)
class RowCount:
    partition: str
    status: Status
    rows: int
    baseline: float | None  # median rows of the recent partitions (None: too little history)


def worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__, default="ok")


def thresholds(spec: ProjectSpec) -> tuple[timedelta, timedelta]:
    """(warn, error) lateness: the spec's, else an eighth and a quarter of one partition."""
    period = spec.partitions.grain.delta
    warn = spec.monitoring.freshness_warn_after or period / 8
    error = spec.monitoring.freshness_error_after or period / 4
    return warn, error


def time_step(times: pd.Series) -> pd.DateOffset | None:
    """The data's own time step: the coarsest of a year, a month, a day or an hour that every time
    is a whole number of (dates: a day; hourly readings: an hour). None: finer, or no times.

    Read from the data, not the spec, so it holds for every way a time axis is written (a date
    column, yymmdd numbers, year + month columns); only a feed whose every row happens to fall
    on a whole step is read coarser, and many rows make that chance nil."""
    import pandas as pd  # here: Dagster loads this module with the code location, pandas is heavy

    found = pd.to_datetime(times.dropna())
    if found.empty or (found != found.dt.floor("h")).any():
        return None
    if (found.dt.hour != 0).any():
        return pd.DateOffset(hours=1)
    if (found.dt.day != 1).any():
        return pd.DateOffset(days=1)
    return pd.DateOffset(months=1) if (found.dt.month != 1).any() else pd.DateOffset(years=1)


def freshness(
    spec: ProjectSpec,
    windows: Mapping[str, tuple[datetime, datetime]],
    newest: Mapping[str, datetime],
    step: pd.DateOffset | None = None,
) -> list[Freshness]:
    """Each partition's lateness at its close, from the end of the newest row's `step` (None: the
    row's own time) within the partition."""
    warn, error = thresholds(spec)
    judged = []
    for key, (start, end) in windows.items():
        last = newest.get(key)
        covered = start if last is None else last if step is None else min(last + step, end)
        lateness = end - covered
        status: Status = "error" if last is None or lateness > error else "warn" if lateness > warn else "ok"
        judged.append(Freshness(key, status, last, lateness))
    return judged


def row_counts(
    spec: ProjectSpec, keys: Sequence[str], rows: Mapping[str, int], history: Mapping[str, int]
) -> list[RowCount]:
    """Each partition of `keys` against the median of the non-empty partitions before it.

    `history` holds the rows of earlier partitions (and may hold the run's own, which later
    partitions of the run use); a partition missing from both has no rows.
    """
    monitoring = spec.monitoring
    counts = {**history, **{k: rows.get(k, 0) for k in keys}}
    ordered = sorted(counts)
    judged = []
    for key in keys:
        before = [counts[k] for k in ordered if k < key and counts[k] > 0][-monitoring.row_count_window :]
        count = counts[key]
        if len(before) < MIN_HISTORY:
            judged.append(RowCount(key, "ok", count, None))
            continue
        baseline = statistics.median(before)
        status: Status = "ok"
        if count == 0:
            status = "error"
        elif not monitoring.row_count_low * baseline <= count <= monitoring.row_count_high * baseline:
            status = "warn"
        judged.append(RowCount(key, status, count, float(baseline)))
    return judged
