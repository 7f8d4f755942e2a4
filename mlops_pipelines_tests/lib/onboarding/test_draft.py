"""lib/onboarding/draft: the grain `init` drafts keeps the replay and the sensors to a feasible number of runs."""

from __future__ import annotations

import pandas as pd

from mlops_pipelines.lib.onboarding.draft import MAX_PARTITIONS, MIN_SCORABLE, choose_grain, whole_days
from mlops_pipelines.lib.onboarding.span import outage_periods


def test_minutes_over_years_make_daily_partitions_not_tens_of_thousands_of_hourly_ones() -> None:
    years = pd.Series(pd.date_range("2006-12-16 17:24", "2010-11-26", freq="5min"))
    grain, counts, why = choose_grain(years)
    assert grain == "daily" and len(counts) == 1441 <= MAX_PARTITIONS
    assert why.startswith("daily: 1441 partitions hold rows")


def test_minutes_over_two_months_keep_hourly_partitions() -> None:
    months = pd.Series(pd.date_range("2006-12-16 17:24", periods=60 * 24 * 60, freq="min"))
    grain, counts, _ = choose_grain(months)
    assert grain == "hourly" and len(counts) == 1441


def hourly_counts(first: str, periods: int) -> dict[str, int]:
    """The hourly partitions' row counts of one row a minute from `first`."""
    minutes = pd.Series(pd.date_range(first, periods=periods, freq="min"))
    grain, counts, _ = choose_grain(minutes)
    assert grain == "hourly"
    return counts


def test_hourly_partitions_start_at_the_first_whole_day_the_data_covers() -> None:
    """Occupancy's shape: a row a minute from 17:51 on 4 February for five days. Partitions from
    midnight would start with 17 hours and end with 6 without a row, each run over one blocked."""
    counts = hourly_counts("2015-02-04 17:51", 60 * 24 * 5)
    kept, notes = whole_days(counts)
    assert (next(iter(kept)), list(kept)[-1], len(kept)) == ("2015-02-05-00:00", "2015-02-08-23:00", 96)
    assert set(kept.values()) == {60}
    assert notes == [
        "partitions.start and end are dates: 23 hourly partition(s) before the first row or after the last "
        "would hold no row, each run over one blocked (row count 0), so the partly covered days are left "
        "out (1440 of 7200 rows before 2015-02-05 or from 2015-02-09 on); partitions.start: 2015-02-04 "
        "and partitions.end: 2015-02-10 read them"
    ]


def test_hourly_data_from_midnight_to_midnight_keeps_every_partition() -> None:
    counts = hourly_counts("2015-02-04 00:00", 60 * 24 * 5)
    assert whole_days(counts) == (counts, [])


def test_hourly_data_short_of_a_whole_day_keeps_its_empty_hours_and_says_they_are_blocked() -> None:
    """From 17:51 to 17:50 the next day: no whole day to keep, so the hours stay and the note warns."""
    counts = hourly_counts("2015-02-04 17:51", 60 * 24)
    kept, notes = whole_days(counts)
    assert kept == counts and len(kept) == 25
    assert notes == [
        "partitions.start and end are dates: 23 hourly partition(s) before the first row or after the last "
        "hold no row; each run over one is blocked (row count 0)"
    ]


def test_too_few_years_give_way_to_the_coarsest_grain_that_leaves_a_partition_to_score() -> None:
    """Bursts in three years: three yearly partitions leave none to score after a first model,
    four quarterly ones do (empty quarters between them are blocked runs, not a dead spec)."""
    bursts = ["2019-01-10", "2019-07-10", "2020-03-10", "2021-11-10"]
    times = pd.Series(pd.concat([pd.Series(pd.date_range(d, periods=30, freq="min")) for d in bursts]))
    grain, counts, why = choose_grain(times.reset_index(drop=True))
    assert grain == "quarterly" and len(counts) == MIN_SCORABLE == 4
    assert why == (
        "quarterly: 4 partitions hold rows (33% of the span), median 30 rows each (the coarsest grain "
        "leaving a partition to score after the first model)"
    )


def test_three_instants_stay_yearly_when_no_grain_gives_more_partitions() -> None:
    times = pd.Series(pd.to_datetime(["2015-01-01", "2016-01-01", "2017-01-01"] * 20))
    grain, counts, why = choose_grain(times)
    assert (grain, counts) == ("yearly", {"2015-01-01": 20, "2016-01-01": 20, "2017-01-01": 20})
    assert why == "yearly: no finer grain has rows in most of its periods"


def hourly_with(gap: tuple[str, str] | None, keep_weeks: float = 1.0) -> pd.Series:
    """Six years of hourly rows (Metro traffic's span), optionally without `gap` and in a random
    `keep_weeks` share of the weeks."""
    hours = pd.Series(pd.date_range("2012-10-02 09:00", "2018-09-30 23:00", freq="h"))
    if gap is not None:
        hours = hours[(hours < gap[0]) | (hours >= gap[1])]
    if keep_weeks < 1:
        weeks = hours.dt.to_period("W").unique()
        kept = pd.Series(weeks).sample(frac=keep_weeks, random_state=1)
        hours = hours[hours.dt.to_period("W").isin(kept)]
    return hours.reset_index(drop=True)


def test_a_long_outage_does_not_coarsen_the_grain() -> None:
    """Ten months without a row in six years: every grain had rows in under 90 % of its periods
    but quarterly (22 partitions of 2400 rows). Counted apart, the outage leaves weekly
    partitions, full everywhere else."""
    grain, counts, why = choose_grain(hourly_with(("2014-08-08", "2015-06-11")))
    assert grain == "weekly" and len(counts) == 270
    assert why.startswith("weekly: 270 partitions hold rows (100% of the span outside 43 in outages)")
    assert outage_periods(list(counts), "weekly") == 43
    assert choose_grain(hourly_with(None))[0] == "weekly"  # the same grain without the outage


def test_scattered_empty_periods_are_no_outage() -> None:
    """The twin: the same span with rows in a random 60 % of weeks has short empty runs only, so
    they count against the fill and a coarser grain is drafted."""
    grain, _, why = choose_grain(hourly_with(None, keep_weeks=0.6))
    assert grain == "monthly" and "in outages" not in why
    weekly = choose_grain(hourly_with(None))[1]
    assert outage_periods(list(weekly), "weekly") == 0
    # Rows in two short bursts years apart: an "outage" of most of the span is sparse data.
    assert outage_periods(["2012-01-02", "2012-01-09", "2018-01-01"], "weekly") == 0
