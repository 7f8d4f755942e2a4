"""lib/onboarding/draft: the grain `init` drafts keeps the replay and the sensors to a feasible number of runs."""

from __future__ import annotations

import pandas as pd

from mlops_pipelines.lib.onboarding.draft import MAX_PARTITIONS, choose_grain


def test_minutes_over_years_make_daily_partitions_not_tens_of_thousands_of_hourly_ones() -> None:
    years = pd.Series(pd.date_range("2006-12-16 17:24", "2010-11-26", freq="5min"))
    grain, counts, why = choose_grain(years)
    assert grain == "daily" and len(counts) == 1441 <= MAX_PARTITIONS
    assert why.startswith("daily: 1441 partitions hold rows")


def test_minutes_over_two_months_keep_hourly_partitions() -> None:
    months = pd.Series(pd.date_range("2006-12-16 17:24", periods=60 * 24 * 60, freq="min"))
    grain, counts, _ = choose_grain(months)
    assert grain == "hourly" and len(counts) == 1441
