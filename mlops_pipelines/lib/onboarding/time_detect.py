"""Where a data file keeps its time: a datetime column, an epoch, a year (with month, day and
hour columns), or none (rows then arrive in file order).

`profile.py` calls `detect_time`; the rules are the ones `parse_time_axis` reads with, so what
`init` drafts parses the same way at ingestion. Numbers count as years, yyyymmdd or yymmdd only
in a column named like a time, since plenty of measurements fall between 1000 and 9999.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_pipelines.lib.month_names import month_numbers
from mlops_pipelines.lib.time_axis import TimeAxisError, detect_format, is_clock, numeric_date_pattern

_TIME_NAME = re.compile(r"(^|_)(date|time|timestamp|datetime|dteday|ts|epoch|created|day|period|when)($|_)")
_YEAR_NAME = re.compile(r"(^|_)(year|yr|yyyy)($|_)")
_MONTH_NAME = re.compile(r"(^|_)(month|mnth|mon|mo|mm)($|_)")
_DAY_NAME = re.compile(r"(^|_)(day|dd|dom|mday|day_of_month)($|_)")
_HOUR_NAME = re.compile(r"(^|_)(hour|hr|hh)($|_)")
_QUARTER = r"\d{4}-?[Qq][1-4]"
# A datetime column and year + month (+ day) columns agreeing on this share of rows are one axis.
SAME_AXIS_SHARE = 0.95
_CLOCK_NAME = re.compile(r"(^|_)(time|clock|hour|hr|time_of_day)($|_)")


@dataclass
class TimeAxis:
    column: str | None = None
    format: str = "auto"
    month_column: str | None = None
    day_column: str | None = None
    hour_column: str | None = None
    times: pd.Series | None = None  # the parsed event times (None: arrival order)
    note: str | None = None  # another time the rows carry, and how to choose it instead
    # Other columns of dates or datetimes: as a feature a date is a category every new
    # partition has never seen (and a status date may leak the outcome), so `init` leaves
    # them out.
    other_dates: tuple[str, ...] = ()


def _reads_as_dates(values: pd.Series) -> bool:
    """Text that is dates: 99 % of a sample parses, and values look like dates (digits and a separator)."""
    sample = values.dropna().astype(str).head(500)
    if not sample.empty and sample.str.fullmatch(_QUARTER).all():
        return True  # 1960Q1: quarters as macro-economic series write them (pandas reads them)
    if sample.empty or not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:. T]").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.99)


def _time_candidates(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, format) of every column that reads as a time, most likely first: datetimes, then
    epochs, then years and yyyymmdd numbers (those only with a time-like name)."""
    found = []
    for name in frame.columns:
        values = frame[name]
        named = bool(_TIME_NAME.search(name) or _YEAR_NAME.search(name))
        if values.dropna().empty or pd.api.types.is_bool_dtype(values) or is_clock(values):
            continue  # a time of day alone (17:24:00) is no time axis; it may join a date's
        try:
            fmt = detect_format(values, name)
        except (TimeAxisError, ValueError, TypeError, OverflowError):
            continue
        if fmt == "datetime" and not (
            pd.api.types.is_datetime64_any_dtype(values) or _reads_as_dates(values)
        ):
            continue
        if fmt in ("year", "%Y%m%d", "%y%m%d") and not named:
            continue
        rank = 0 if fmt == "datetime" else 1 if fmt.startswith("epoch") else 2
        # Of one kind, a column with empty rows (a cancellation's date) cannot time every row: a
        # complete one comes first. Alone it is still taken, so its error names the empty rows.
        found.append((rank, bool(values.isna().any()), not named, name, fmt))
    return [(name, fmt) for *_, name, fmt in sorted(found)]


def detect_time(frame: pd.DataFrame, wanted: str | None) -> TimeAxis:
    """The time axis: `wanted` if given, else the best candidate; a year column pairs with a month
    column and then a day column, a date-only axis with an hour column."""
    from mlops_pipelines.lib.time_axis import parse_time_axis
    from mlops_pipelines.spec_time import TimeSpec

    found = _time_candidates(frame)
    candidates = [(wanted, detect_format(frame[wanted], wanted))] if wanted else found
    if not candidates:
        return TimeAxis()
    column, fmt = candidates[0]
    axis = _dated_by_parts(frame, column) if fmt == "year" else TimeAxis(column=column)
    note = None
    if not wanted and fmt == "datetime":
        axis, note = _prefer_parts(frame, axis, candidates)
        column, fmt = axis.column or column, "year" if axis.month_column else fmt
    others = [c for c in frame.columns if c != column]
    spec = TimeSpec(column=column, month_column=axis.month_column, day_column=axis.day_column)
    times = parse_time_axis(frame, spec)
    if (fmt == "datetime" or axis.day_column) and bool((times == times.dt.normalize()).all()):
        axis.hour_column = next(
            (c for c in others if _HOUR_NAME.search(c) and _whole_in(frame[c], 0, 23)), None
        ) or next((c for c in others if _CLOCK_NAME.search(c) and is_clock(frame[c])), None)
        if axis.hour_column:
            times = parse_time_axis(frame, spec.model_copy(update={"hour_column": axis.hour_column}))
    axis.format = fmt if fmt not in ("datetime", "year") else "auto"
    if fmt == "datetime" and not pd.api.types.is_datetime64_any_dtype(frame[column]):
        # 10/03/2004: the order of day and month, settled once here, is written into the spec.
        axis.format = numeric_date_pattern(frame[column], column) or "auto"
    axis.times = times
    axis.note = note
    axis.other_dates = tuple(c for c, f in found if f == "datetime" and c != column)
    return axis


def _dated_by_parts(frame: pd.DataFrame, year: str) -> TimeAxis:
    """A year column with the month column (numbers or names) and then the day column beside it."""
    others = [c for c in frame.columns if c != year]
    axis = TimeAxis(column=year)
    axis.month_column = next(
        (c for c in others if _MONTH_NAME.search(c) and _whole_in(month_numbers(frame[c]), 1, 12)), None
    )
    if axis.month_column:
        axis.day_column = next(
            (c for c in others if _DAY_NAME.search(c) and _whole_in(frame[c], 1, 31)), None
        )
    return axis


def _prefer_parts(
    frame: pd.DataFrame, axis: TimeAxis, candidates: list[tuple[str, str]]
) -> tuple[TimeAxis, str | None]:
    """A datetime column, or the year + month (+ day) columns when those date the rows otherwise.

    Both on the same dates (a date and its parts): the datetime, which may be finer. Different
    dates: two times, and the one spread over dedicated columns is the data's designed axis;
    the other is often when the outcome was recorded (Hotel Booking's
    `reservation_status_date`, a cancellation's date), which leaks it. The note says which was
    taken and how to take the other."""
    from mlops_pipelines.lib.time_axis import parse_time_axis
    from mlops_pipelines.spec_time import TimeSpec

    year = next((c for c, f in candidates if f == "year"), None)
    parts = _dated_by_parts(frame, year) if year else None
    if parts is None or parts.month_column is None or axis.column is None:
        return axis, None
    by_parts = parse_time_axis(
        frame, TimeSpec(column=year, month_column=parts.month_column, day_column=parts.day_column)
    )
    named = " + ".join(c for c in (year, parts.month_column, parts.day_column) if c)
    empty = int(frame[axis.column].isna().sum())
    if empty:
        return parts, (
            f"'{axis.column}' is empty in {empty} rows, so it cannot time every row and {named} "
            f"do; pass --time {axis.column} to use it anyway"
        )
    pattern = None
    if not pd.api.types.is_datetime64_any_dtype(frame[axis.column]):
        pattern = numeric_date_pattern(frame[axis.column], axis.column)
    by_column = parse_time_axis(frame, TimeSpec(column=axis.column, format=pattern or "auto"))
    unit = f"datetime64[{'D' if parts.day_column else 'M'}]"
    same = _naive(by_column).astype(unit) == _naive(by_parts).astype(unit)
    if same.mean() >= SAME_AXIS_SHARE:
        return axis, None
    return parts, (
        f"'{axis.column}' dates {1 - same.mean():.0%} of the rows otherwise than {named}, so it is "
        f"another time (when an outcome was recorded would leak it); pass --time {axis.column} to use it"
    )


def _whole_in(values: pd.Series, low: int, high: int) -> bool:
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and (numbers % 1 == 0).all() and numbers.between(low, high).all())


def _naive(times: pd.Series) -> np.ndarray:
    """Wall-clock times without a zone, as numpy datetimes (a zone-aware series holds objects)."""
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[ns]")
