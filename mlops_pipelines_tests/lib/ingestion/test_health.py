"""Raw data health, pure: freshness on the data's own clock and row counts against recent partitions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from mlops_pipelines.lib.ingestion.health import freshness, row_counts, thresholds, time_step, worst
from mlops_pipelines.spec import Grain, ProjectSpec


@pytest.fixture
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return specs["bike_sharing"]  # daily partitions, default thresholds


def with_monitoring(spec: ProjectSpec, **changes: object) -> ProjectSpec:
    return spec.model_copy(update={"monitoring": spec.monitoring.model_copy(update=changes)})


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2011, 3, d, hour)


def test_default_thresholds_are_an_eighth_and_a_quarter_of_a_partition(spec: ProjectSpec) -> None:
    assert thresholds(spec) == (timedelta(hours=3), timedelta(hours=6))
    hourly = spec.model_copy(
        update={"partitions": spec.partitions.model_copy(update={"grain": Grain.HOURLY})}
    )
    assert thresholds(hourly) == (timedelta(minutes=7.5), timedelta(minutes=15))
    custom = with_monitoring(spec, freshness_warn_after=timedelta(hours=1))
    assert thresholds(custom) == (timedelta(hours=1), timedelta(hours=6))


@pytest.mark.parametrize(
    ("newest", "status", "lateness"),
    [
        (day(1, 23), "ok", timedelta(hours=1)),
        (day(1, 21), "ok", timedelta(hours=3)),  # at the warn threshold: not late yet
        (day(1, 20), "warn", timedelta(hours=4)),
        (day(1, 17), "error", timedelta(hours=7)),
        (None, "error", timedelta(days=1)),  # no rows at all
    ],
)
def test_freshness_warns_then_errors_as_the_feed_stops_earlier(
    spec: ProjectSpec, newest: datetime | None, status: str, lateness: timedelta
) -> None:
    newest_rows = {} if newest is None else {"2011-03-01": newest}
    [judged] = freshness(spec, {"2011-03-01": (day(1), day(2))}, newest_rows)
    assert (judged.status, judged.lateness, judged.newest) == (status, lateness, newest)


@pytest.mark.parametrize(
    ("times", "step"),
    [
        (["2011-03-01", "2011-03-02"], pd.DateOffset(days=1)),  # a date column
        (["2011-03-01 00:00", "2011-03-01 23:00"], pd.DateOffset(hours=1)),  # hourly readings
        (["2011-01-01", "2011-02-01"], pd.DateOffset(months=1)),  # year + month columns
        (["2010-01-01", "2011-01-01"], pd.DateOffset(years=1)),
        (["2011-03-01 00:00", "2011-03-01 23:30"], None),  # half-hours: finer than an hour
        (["2011-03-01 00:00:00", "2011-03-01 23:00:01"], None),
        ([], None),
    ],
)
def test_the_time_step_is_the_coarsest_unit_every_time_is_whole_in(
    times: list[str], step: pd.DateOffset | None
) -> None:
    found = time_step(pd.Series(pd.to_datetime(times), dtype="datetime64[ns]"))
    assert found == step


def test_a_row_covers_its_step_so_dates_are_not_a_day_late(spec: ProjectSpec) -> None:
    windows = {"2011-03-01": (day(1), day(2)), "2011-03-02": (day(2), day(3))}
    midnight = {"2011-03-01": day(1), "2011-03-02": day(2)}
    dated = freshness(spec, windows, midnight, pd.DateOffset(days=1))
    assert [(j.status, j.lateness) for j in dated] == [("ok", timedelta(0))] * 2
    # Read as instants, the same rows are a day late: what every date-only feed showed before.
    assert [j.status for j in freshness(spec, windows, midnight)] == ["error", "error"]
    # An hour's row ends with its hour; a feed that stops at 19:00 is still 4 h late.
    hourly = freshness(
        spec, windows, {"2011-03-01": day(1, 23), "2011-03-02": day(2, 19)}, pd.DateOffset(hours=1)
    )
    assert [(j.status, j.lateness) for j in hourly] == [("ok", timedelta(0)), ("warn", timedelta(hours=4))]
    # A step never reaches past the partition's end, and no rows is still an error.
    [monthly] = freshness(
        spec, {"2011-03-01": (day(1), day(2))}, {"2011-03-01": day(1)}, pd.DateOffset(months=1)
    )
    assert (monthly.status, monthly.lateness) == ("ok", timedelta(0))
    [empty] = freshness(spec, {"2011-03-01": (day(1), day(2))}, {}, pd.DateOffset(days=1))
    assert (empty.status, empty.lateness) == ("error", timedelta(days=1))


def test_row_counts_need_history_then_judge_against_its_median(spec: ProjectSpec) -> None:
    history = {f"2011-03-0{d}": 100 for d in range(1, 4)}
    keys = ["2011-03-04", "2011-03-05", "2011-03-06", "2011-03-07"]
    rows = {"2011-03-04": 49, "2011-03-05": 201, "2011-03-06": 100}
    judged = row_counts(spec, keys, rows, history)
    assert [(j.partition, j.status, j.rows, j.baseline) for j in judged] == [
        ("2011-03-04", "warn", 49, 100.0),  # under half the median
        ("2011-03-05", "warn", 201, 100.0),  # over twice the median
        ("2011-03-06", "ok", 100, 100.0),
        ("2011-03-07", "error", 0, 100.0),  # empty where recent partitions had rows
    ]
    # Two earlier partitions are no baseline: no verdict, whatever the count.
    [early] = row_counts(spec, ["2011-03-03"], {"2011-03-03": 1}, {"2011-03-01": 100, "2011-03-02": 100})
    assert (early.status, early.baseline) == ("ok", None)


def test_the_baseline_spans_only_the_window_of_recent_partitions_with_rows(spec: ProjectSpec) -> None:
    narrow = with_monitoring(spec, row_count_window=3)
    history = {"2011-03-01": 1000, "2011-03-02": 0, "2011-03-03": 10, "2011-03-04": 10, "2011-03-05": 10}
    [judged] = row_counts(narrow, ["2011-03-06"], {"2011-03-06": 10}, history)
    assert (judged.status, judged.baseline) == ("ok", 10.0)  # the old 1000 and the empty day are out


def test_the_worst_status_wins() -> None:
    assert worst(["ok", "warn", "ok"]) == "warn" and worst(["warn", "error"]) == "error" and worst([]) == "ok"
