"""A time column's values as event times: detection of the format and parsing, one place for all.

Ingestion (`add_event_time`), features (`event_times` on served rows) and the data check
(`validate-spec --data`) read a time column through `parse_time_axis`, so a year, an epoch in
seconds or milliseconds and a date string become the same timestamps everywhere. A column no
rule recognizes is a `TimeAxisError` naming it, its values and the `time.format` to set; it is
never read as nanoseconds since 1970 (what pandas does with a bare integer).
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from mlops_pipelines.lib.month_names import month_numbers

if TYPE_CHECKING:
    from mlops_pipelines.spec_time import TimeSpec

_Unit = Literal["s", "ms", "us", "ns"]
_EPOCH_UNITS: dict[str, _Unit] = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us", "epoch_ns": "ns"}
# Magnitude bands of epoch counts for dates between 1973 and 5138 (seconds) and so on.
_EPOCH_BANDS = (("epoch_s", 1e8, 1e11), ("epoch_ms", 1e11, 1e14), ("epoch_us", 1e14, 1e17))
_YEAR_TEXT = re.compile(r"^\s*\d{4}\s*$")
_CLOCK = re.compile(r"\s*(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?\s*")
# Dates written as numbers with the year last: 10/03/2004, 3.10.04, 10-03-2004 18:00.
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}(?:\D|$)")
FORMAT_HINT = (
    "set time.format to one of year, epoch_s, epoch_ms, epoch_us, epoch_ns, datetime or a strftime pattern"
)


class TimeAxisError(ValueError):
    """Time values that cannot be read; the message names the column, the values and the fix."""


def _numbers(values: pd.Series) -> pd.Series | None:
    """The values as float64 when every present value is a number (or numeric text), else None."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    present = values.dropna()
    if len(present) == 0:
        return None
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if parsed.isna().any():
        return None
    return pd.to_numeric(values.astype(object).where(values.notna()).astype(str).str.strip(), errors="coerce")


def detect_format(values: pd.Series, column: str) -> str:
    """The time format of `values` (see spec_time); raises TimeAxisError when nothing fits."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    numbers = _numbers(values)
    if numbers is None:
        present = values.dropna().astype(str)
        if len(present) and present.str.match(_YEAR_TEXT).all():
            return "year"
        return "datetime"
    present = numbers.dropna()
    if len(present) == 0:
        raise TimeAxisError(f"time column '{column}': no value to read a time from")
    low, high = float(present.min()), float(present.max())
    whole = bool(np.all(present == np.floor(present)))
    if whole and low >= 1000 and high <= 9999:
        return "year"
    # yyyymmdd, or yymmdd (Harries' electricity data: 960507) from 1969 to 1999 or 2010 to 2068.
    pattern = "%Y%m%d" if low >= 10_000_101 and high <= 99_991_231 else "%y%m%d"
    dates = whole and (pattern == "%Y%m%d" or 100_101 <= low <= high <= 991_231)
    text = present.astype("int64").astype(str) if dates else None
    if text is not None and pd.to_datetime(text, format=pattern, errors="coerce").notna().all():
        return pattern
    for name, lo, hi in _EPOCH_BANDS:
        if lo <= low and high < hi:
            return name
    if whole and low >= 1e17:
        return "epoch_ns"
    raise TimeAxisError(
        f"time column '{column}': numbers from {low:g} to {high:g} are not years (1000..9999), epoch "
        f"seconds (1e8..1e11) or milliseconds (1e11..1e14): {FORMAT_HINT}"
    )


def _first_bad(
    values: pd.Series, bad: pd.Series, column: str, what: str, role: str = "time column"
) -> TimeAxisError:
    position = int(np.flatnonzero(bad.to_numpy())[0])
    hint = f"; {FORMAT_HINT}" if role == "time column" else ""
    return TimeAxisError(
        f"{role} '{column}': {int(bad.sum())} value(s) are not {what}, e.g. "
        f"{values.iloc[position]!r} at row {position}{hint}"
    )


def _day_first(present: pd.Series, column: str) -> bool | None:
    """Whether dates written as numbers d/m/y or m/d/y put the day first; None for other text.

    pandas guesses the order from the first value and, where later values contradict it, reads
    each alone: 10/03 and 13/03 end up in different months, silently. Here one order holds for
    the whole column: the one some value proves (a first number above 12 is a day); when every
    value fits both, the one that keeps more rows in file order (rows mostly arrive in time order).
    """
    if present.empty or not _NUMERIC_DATE.match(present.iloc[0]):
        return None
    heads = pd.Series(present.str[:10].unique())  # the date part, once per distinct day
    parts = heads.str.extract(_NUMERIC_DATE)
    if parts[0].isna().any():
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first and month_first:
        one, other = (int(np.flatnonzero((n > 12).to_numpy())[0]) for n in (first, second))
        raise TimeAxisError(
            f"time column '{column}' mixes day-first and month-first dates (e.g. {heads.iloc[one]!r} "
            f"and {heads.iloc[other]!r}); {FORMAT_HINT}"
        )
    if day_first or month_first:
        return day_first
    sample = present.head(5000)
    in_order = {
        order: pd.to_datetime(sample, errors="coerce", format="mixed", dayfirst=order)
        .diff()
        .dt.days.ge(0)
        .mean()
        for order in (False, True)
    }
    return bool(in_order[True] > in_order[False])


def numeric_date_pattern(values: pd.Series, column: str) -> str | None:
    """The one strftime pattern that reads every value of a d/m/y or m/d/y column (the order
    settled by `_day_first`), for `init` to write into the spec; None for other values."""
    present = values.dropna().astype(str).str.strip()
    day_first = _day_first(present, column)
    if day_first is None:
        return None
    from pandas.tseries.api import guess_datetime_format  # type: ignore[attr-defined]

    pattern = guess_datetime_format(present.iloc[0], dayfirst=day_first)
    if pattern is None or pd.to_datetime(present, errors="coerce", format=pattern).isna().any():
        return None
    return str(pattern)


def _parse_datetimes(values: pd.Series, column: str, pattern: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values) and pattern is None:
        return values
    text = values.astype(object).where(values.notna())
    present = text.dropna().astype(str).str.strip() if pattern is None else None
    day_first = _day_first(present, column) if present is not None else None
    if present is not None and day_first is not None:
        from pandas.tseries.api import guess_datetime_format  # type: ignore[attr-defined]

        # One pattern reads a column fast; dateutil, value by value, only what it leaves.
        guess = guess_datetime_format(present.iloc[0], dayfirst=day_first)
        parsed = pd.to_datetime(text, errors="coerce", format=guess or "mixed", dayfirst=day_first, utc=True)
        if guess and bool((parsed.isna() & values.notna()).any()):
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=day_first, utc=True)
    elif pattern is not None:
        text = text.map(lambda v: v if v is None or isinstance(v, str) else str(v).removesuffix(".0"))
        parsed = pd.to_datetime(text, errors="coerce", format=pattern, utc=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": the retry below
            # utc=True: daylight-saving offsets (+01:00, +02:00) make one axis; naive values stay.
            parsed = pd.to_datetime(text, errors="coerce", utc=True)
            if (parsed.isna() & values.notna()).any():
                # Inference locks onto the first value's format; mixed valid formats get a second chance.
                parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise _first_bad(values, bad, column, f"dates{f' in format {pattern!r}' if pattern else ''}")
    return parsed


def _parse_years(values: pd.Series, column: str) -> pd.Series:
    numbers = _numbers(values)
    if numbers is None:
        raise _first_bad(values, values.notna(), column, "year numbers")
    bad = numbers.notna() & ((numbers != np.floor(numbers)) | (numbers < 1) | (numbers > 9999))
    if bad.any():
        raise _first_bad(values, bad, column, "whole years between 1 and 9999")
    years = numbers.fillna(1970).to_numpy(dtype="int64") - 1970
    stamps = years.astype("datetime64[Y]").astype("datetime64[ns]")
    return pd.Series(stamps, index=values.index).where(numbers.notna())


def _parse_epoch(values: pd.Series, column: str, unit: Literal["s", "ms", "us", "ns"]) -> pd.Series:
    numbers = _numbers(values)
    if numbers is None:
        raise _first_bad(values, values.notna(), column, f"epoch counts ({unit})")
    try:
        return pd.to_datetime(numbers, unit=unit, errors="raise")
    except (OverflowError, ValueError) as err:
        raise TimeAxisError(
            f"time column '{column}': epoch values out of range for unit '{unit}': {err}"
        ) from err


def _whole(frame: pd.DataFrame, column: str, role: str, low: int, high: int) -> pd.Series:
    numbers = pd.to_numeric(frame[column], errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0) | (numbers < low) | (numbers > high)
    if bad.any():
        raise _first_bad(frame[column], bad, column, f"whole numbers from {low} to {high}", role)
    return numbers.astype("int64")


def is_clock(values: pd.Series) -> bool:
    """Whether every present value is a time of day as text: 17:24, 17:24:00 or 18.00.00."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    distinct = pd.Series(values.dropna().astype(str).unique())
    return bool(len(distinct) and distinct.str.fullmatch(_CLOCK).all())


def _time_of_day(frame: pd.DataFrame, column: str) -> pd.Series:
    """An hour column's offsets: whole hours 0..23, or times of day as text (17:24:00)."""
    values = frame[column]
    if not is_clock(values):
        hours = _whole(frame, column, "hour column", 0, 23).to_numpy()
        return pd.Series(pd.to_timedelta(hours, unit="h"), index=frame.index)
    if values.isna().any():
        raise _first_bad(values, values.isna(), column, "times of day (some are empty)", "hour column")
    text = values.astype(str)
    distinct = pd.Series(text.unique())  # a day has at most 86400 of them, a file millions of rows
    parts = distinct.str.extract(_CLOCK).fillna("0").astype(int)
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    bad_distinct = (parts[0] > 23) | (parts[1] > 59) | (parts[2] > 59)
    if bad_distinct.any():
        bad = text.isin(set(distinct[bad_distinct]))
        raise _first_bad(values, bad, column, "times of day from 00:00:00 to 23:59:59", "hour column")
    offsets = text.map(dict(zip(distinct, seconds, strict=True))).to_numpy(dtype="int64")
    return pd.Series(pd.to_timedelta(offsets, unit="s"), index=frame.index)


def parse_time_axis(frame: pd.DataFrame, time: TimeSpec) -> pd.Series:
    """The event time of each row of `frame` from `time.column` (+ month, day and hour columns),
    as naive UTC datetime64[ns]; raises TimeAxisError naming the column and the problem."""
    assert time.column is not None
    for name in time.columns:
        if name not in frame.columns:
            raise TimeAxisError(f"time column '{name}' not in the data (columns: {list(frame.columns)})")
    values = frame[time.column]
    fmt = detect_format(values, time.column) if time.format == "auto" else time.format
    if time.month_column and fmt != "year":
        raise TimeAxisError(
            f"time column '{time.column}' reads as {fmt}, but 'month_column' needs a year column"
        )
    if fmt == "year":
        parsed = _parse_years(values, time.column)
    elif fmt in _EPOCH_UNITS:
        parsed = _parse_epoch(values, time.column, _EPOCH_UNITS[fmt])
    else:
        parsed = _parse_datetimes(values, time.column, None if fmt == "datetime" else fmt)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]")
    if parsed.isna().any():
        first = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise TimeAxisError(
            f"time column '{time.column}': {int(parsed.isna().sum())} row(s) have no time (first at row "
            f"{first}); they fit no partition"
        )
    if time.month_column:
        named = pd.DataFrame({time.month_column: month_numbers(frame[time.month_column])})
        months = _whole(named, time.month_column, "month column", 1, 12)
        parsed = parsed.to_numpy().astype("datetime64[M]") + (months.to_numpy() - 1).astype("timedelta64[M]")
        parsed = pd.Series(parsed.astype("datetime64[ns]"), index=frame.index)
    if time.day_column and time.month_column:
        parsed = _add_days(frame, time.day_column, parsed)
    if time.hour_column:
        parsed = parsed + _time_of_day(frame, time.hour_column)
    return parsed.set_axis(frame.index)


def _add_days(frame: pd.DataFrame, column: str, months: pd.Series) -> pd.Series:
    """`months` (first days of months) plus the day of the month in `column`; a day the month
    lacks (February 30) is an error naming it, not a date in the next month."""
    days = _whole(frame, column, "day column", 1, 31)
    dated = months + pd.to_timedelta(days.to_numpy() - 1, unit="D")
    bad = dated.dt.month != months.dt.month
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise TimeAxisError(
            f"day column '{column}': {int(bad.sum())} day(s) do not exist in their month, e.g. day "
            f"{int(days.iloc[position])} of {months.iloc[position]:%Y-%m} at row {position}"
        )
    return dated


def time_format(frame: pd.DataFrame, time: TimeSpec) -> str:
    """The format `parse_time_axis` reads `time.column` with (the detected one for 'auto')."""
    assert time.column is not None
    return detect_format(frame[time.column], time.column) if time.format == "auto" else time.format
