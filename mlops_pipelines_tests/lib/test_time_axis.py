"""lib/time_axis: dates written as numbers keep one order of day and month for the whole column.

pandas guesses the order from the first value and reads values that contradict it one by one,
so 10/03/2004 (a March date) and 13/03/2004 used to land in October and March.
"""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_pipelines.lib.ingestion.conform import conform
from mlops_pipelines.lib.time_axis import TimeAxisError, detect_format, numeric_date_pattern, parse_time_axis
from mlops_pipelines.spec import parse_spec
from mlops_pipelines.spec_time import TimeSpec

DAYS = pd.date_range("2004-03-10", periods=40, freq="D")


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        ("%d/%m/%Y", "%d/%m/%Y"),
        ("%m/%d/%Y", "%m/%d/%Y"),
        ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M"),
        ("%d-%m-%Y", "%d-%m-%Y"),
        ("%d/%m/%y", None),  # read day-first all the same, but pandas offers no one pattern for it
    ],
)
def test_numeric_dates_read_in_one_order(pattern: str, found: str | None) -> None:
    frame = pd.DataFrame({"date": DAYS.strftime(pattern)})
    times = parse_time_axis(frame, TimeSpec(column="date"))
    assert list(times) == list(DAYS)
    assert numeric_date_pattern(frame["date"], "date") == found


def test_dates_no_value_settles_follow_the_file_order() -> None:
    """Days 1..12 of two months: both readings parse; only the day-first one keeps the rows in order."""
    days = pd.DatetimeIndex([pd.Timestamp(2004, m, d) for m in (1, 2) for d in range(1, 13)])
    frame = pd.DataFrame({"date": days.strftime("%d/%m/%Y")})
    assert list(parse_time_axis(frame, TimeSpec(column="date"))) == list(days)
    frame = pd.DataFrame({"date": days.strftime("%m/%d/%Y")})
    assert list(parse_time_axis(frame, TimeSpec(column="date"))) == list(days)
    # Both readings in order (one a day apart, one a month): nothing decides, month-first as pandas.
    tied = pd.DataFrame({"date": pd.date_range("2004-01-01", periods=12, freq="MS").strftime("%m/%d/%Y")})
    assert parse_time_axis(tied, TimeSpec(column="date")).iloc[1] == pd.Timestamp("2004-02-01")


def test_iso_dates_and_names_are_untouched() -> None:
    frame = pd.DataFrame({"date": ["2004-03-10", "2004-03-13"], "other": ["10 March 2004", "13 March 2004"]})
    assert numeric_date_pattern(frame["date"], "date") is None
    assert numeric_date_pattern(frame["other"], "other") is None
    assert list(parse_time_axis(frame, TimeSpec(column="other"))) == list(pd.to_datetime(frame["date"]))


def test_a_column_mixing_both_orders_is_an_error_naming_two_values() -> None:
    frame = pd.DataFrame({"date": ["13/01/2004", "14/01/2004", "01/13/2004"]})
    with pytest.raises(
        TimeAxisError, match=r"'date' mixes day-first and month-first dates.*'13/01/2004'.*'01/13/2004'"
    ):
        parse_time_axis(frame, TimeSpec(column="date"))


def test_the_stored_time_column_reads_with_the_spec_pattern_in_any_slice() -> None:
    """One day's slice alone cannot tell 10/03 from 03/10; the spec's pattern can."""
    spec = parse_spec(
        {
            "name": "dmy",
            "task": "regression",
            "source": {"kind": "csv", "files": [{"path": "data.csv"}]},
            "schema": {"date": {"dtype": "date"}, "y": {"dtype": "float"}},
            "target": "y",
            "time": {"column": "date", "format": "%d/%m/%Y"},
            "partitions": {"start": "2004-03-01"},
            "features": {"time_features": ["dayofweek"]},
        }
    )
    done = conform(pd.DataFrame({"date": ["10/03/2004", "10/03/2004"], "y": [1.0, 2.0]}), spec)
    assert done.frame is not None and list(done.frame["date"]) == [pd.Timestamp("2004-03-10")] * 2
    bad = conform(pd.DataFrame({"date": ["10/03/2004", "2004-03-11"], "y": [1.0, 2.0]}), spec)
    assert bad.frame is None
    assert "in format '%d/%m/%Y'" in bad.problems[0].detail and "2004-03-11" in bad.problems[0].detail


def test_a_time_of_day_column_adds_to_a_date_and_a_bad_one_is_named() -> None:
    stamps = pd.DatetimeIndex(["2006-12-16 17:24:00", "2006-12-16 23:59:30", "2006-12-17 00:00:00"])
    frame = pd.DataFrame({"date": stamps.strftime("%d/%m/%Y"), "time": stamps.strftime("%H:%M:%S")})
    frame.index = [7, 8, 9]  # offsets align by row, not by position
    found = parse_time_axis(frame, TimeSpec(column="date", format="%d/%m/%Y", hour_column="time"))
    assert list(found) == list(stamps) and list(found.index) == [7, 8, 9]
    dotted = pd.DataFrame({"date": ["2004-03-10"], "time": ["18.00.00"]})
    assert parse_time_axis(dotted, TimeSpec(column="date", hour_column="time")).iloc[0] == pd.Timestamp(
        "2004-03-10 18:00"
    )
    late = pd.DataFrame({"date": ["2004-03-10", "2004-03-10"], "time": ["18:00", "24:10"]})
    with pytest.raises(
        TimeAxisError, match=r"hour column 'time': 1 value\(s\) are not times of day.*'24:10' at row 1"
    ):
        parse_time_axis(late, TimeSpec(column="date", hour_column="time"))
    empty = pd.DataFrame({"date": ["2004-03-10", "2004-03-10"], "time": ["18:00", None]})
    with pytest.raises(
        TimeAxisError, match=r"hour column 'time': 1 value\(s\) are not times of day \(some are empty\)"
    ):
        parse_time_axis(empty, TimeSpec(column="date", hour_column="time"))


@pytest.mark.parametrize(
    ("values", "pattern", "first"),
    [
        ([20120101, 20120102, 20121231], "%Y%m%d", "2012-01-01"),
        ([960507, 960508, 991231], "%y%m%d", "1996-05-07"),  # Harries' electricity data
        ([100101, 120229, 680101], "%y%m%d", "2010-01-01"),
    ],
)
def test_dates_written_as_numbers_are_detected_and_read(values: list[int], pattern: str, first: str) -> None:
    frame = pd.DataFrame({"date": values})
    assert detect_format(frame["date"], "date") == pattern
    assert parse_time_axis(frame, TimeSpec(column="date")).iloc[0] == pd.Timestamp(first)


@pytest.mark.parametrize("values", [[960507, 961307], [960507, 960532], [101, 1231], [690101, 990101, 123]])
def test_numbers_that_are_no_dates_are_refused_with_the_column_named(values: list[int]) -> None:
    # Month 13, day 32, yymmdd before 2010 without its leading zeros (000101 is 101), a mix.
    with pytest.raises(TimeAxisError, match=r"time column 'date': numbers from"):
        detect_format(pd.Series(values), "date")


def test_offsets_that_change_with_daylight_saving_read_as_one_utc_axis() -> None:
    # Open Power System Data's cet_cest_timestamp: +01:00 in winter, +02:00 in summer. pandas
    # reads such a column as objects and init crashed on `.dt`.
    local = pd.date_range("2021-10-31 00:00", periods=5, freq="h", tz="UTC").tz_convert("Europe/Berlin")
    text = [t.isoformat() for t in local]  # 02:00+02:00 then 02:00+01:00: the hour that repeats
    assert (text[0][11:], text[1][11:]) == ("02:00:00+02:00", "02:00:00+01:00")
    found = parse_time_axis(pd.DataFrame({"ts": text}), TimeSpec(column="ts"))
    assert list(found) == list(pd.date_range("2021-10-31 00:00", periods=5, freq="h"))
    assert found.dtype == "datetime64[ns]" and found.is_monotonic_increasing and found.is_unique
    naive = parse_time_axis(
        pd.DataFrame({"ts": ["2021-10-31 02:00", "2021-10-31 03:00"]}), TimeSpec(column="ts")
    )
    assert list(naive) == [pd.Timestamp("2021-10-31 02:00"), pd.Timestamp("2021-10-31 03:00")]  # not shifted
    broken = pd.DataFrame({"ts": [*text, "2021-10-31T25:00:00+01:00"]})
    with pytest.raises(TimeAxisError, match=r"time column 'ts': 1 value\(s\) are not dates.*at row 5"):
        parse_time_axis(broken, TimeSpec(column="ts"))
