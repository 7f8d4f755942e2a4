"""lib/onboarding/calendar: a series with only a time and a target learns from the time's cycles."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_pipelines.lib.onboarding.calendar import calendar_features, draft_features


def stamps(start: str, periods: int, freq: str) -> pd.Series:
    return pd.Series(pd.date_range(start, periods=periods, freq=freq))


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (stamps("2002-01-01 01:00", 24 * 800, "h"), ["hour", "dayofweek", "month"]),  # a meter's load
        (stamps("2020-03-01", 120, "D"), ["dayofweek"]),  # daily sales, four months: no month yet
        (stamps("2010-02-05", 143, "W-FRI"), ["month"]),  # weekly, always a Friday (Walmart)
        (stamps("2001-01-01", 30, "MS"), ["month"]),  # monthly: the first of a month is any weekday
        (stamps("2020-03-01 08:00", 40, "h"), ["hour", "dayofweek"]),
    ],
)
def test_each_cycle_the_times_vary_in_becomes_a_feature(times: pd.Series, expected: list[str]) -> None:
    assert calendar_features(times) == expected


def test_times_that_never_vary_give_no_feature() -> None:
    assert calendar_features(pd.Series(pd.to_datetime(["2024-05-06"] * 50))) == []
    assert calendar_features(pd.Series([], dtype="datetime64[ns]")) == []
    assert calendar_features(pd.Series([pd.NaT, pd.NaT])) == []


def test_a_series_without_features_gets_the_calendar_and_a_note() -> None:
    features, notes = draft_features(["row_id"], [], stamps("2016-01-01", 24 * 400, "h"), None)
    assert features == {"exclude": ["row_id"], "time_features": ["hour", "dayofweek", "month"]}
    assert notes == [
        "no column but the time and the target: the model learns from the time's hour, dayofweek, "
        "month (features.time_features)"
    ]


def test_columns_to_learn_from_keep_the_features_as_they_are() -> None:
    """The twin: with a column left, the draft adds nothing (a calendar column may already be there)."""
    assert draft_features(["row_id"], ["temp"], stamps("2016-01-01", 24 * 400, "h"), None) == (
        {"exclude": ["row_id"]},
        [],
    )
    assert draft_features([], ["temp"], None, None) == ({}, [])
    # Rows spaced by arrival have no time of their own: nothing is derived from invented times.
    assert draft_features([], [], None, None) == ({}, [])


def test_a_time_of_day_column_is_replaced_by_its_hour() -> None:
    features, notes = draft_features([], ["Time", "Voltage"], stamps("2006-12-16 17:24", 600, "min"), "Time")
    assert features == {"exclude": ["Time"], "time_features": ["hour"]}
    assert notes == ["Time: a time of day, read into the time axis; the model gets its hour instead"]
    # Only the clock besides the target: the calendar, the hour included, replaces it.
    features, _ = draft_features([], ["Time"], stamps("2006-12-16 17:24", 60 * 24 * 400, "min"), "Time")
    assert features == {"exclude": ["Time"], "time_features": ["hour", "dayofweek", "month"]}
