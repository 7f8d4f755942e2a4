"""The calendar features `init` drafts: what the time axis itself can teach a model.

A file holding only a time and a target (a meter's load, a shop's daily sales, a station's
hourly count) leaves no column to learn from, and a spec without features cannot train. Its
time still tells the hour, the weekday and the month, which carry the daily, weekly and yearly
cycles such a series follows, so those become `features.time_features`. Each one is drafted
only where it varies: hourly rows get the hour, daily rows the weekday, and a
span of about a year or more the month (shorter, each new month would be a value the model
never saw).
"""

from __future__ import annotations

import pandas as pd

YEAR_DAYS = 360  # "about a year": a year of monthly rows starting mid-month spans 335-365 days


def calendar_features(times: pd.Series) -> list[str]:
    """The derived time features the rows' `times` vary in, in `features.time_features` order."""
    stamps = pd.to_datetime(times.dropna())
    if stamps.empty:
        return []
    found = []
    if (stamps - stamps.dt.normalize()).nunique() > 1:
        found.append("hour")
    days = pd.Series(stamps.dt.normalize().unique()).sort_values()
    # Daily or finer: monthly rows fall on every weekday too, but carry no weekly cycle.
    if stamps.dt.dayofweek.nunique() > 1 and pd.Timedelta(days.diff().median()) <= pd.Timedelta(days=1):
        found.append("dayofweek")
    if (stamps.max() - stamps.min()).days >= YEAR_DAYS and stamps.dt.month.nunique() > 1:
        found.append("month")
    return found


def draft_features(
    exclude: list[str], kept: list[str], times: pd.Series | None, clock: str | None
) -> tuple[dict[str, list[str]], list[str]]:
    """The spec's `features` block and its notes: `kept` are the columns the model would see,
    `clock` a time-of-day text column read into the time axis (its hour replaces it)."""
    drop = [*exclude, clock] if clock else list(exclude)
    features: dict[str, list[str]] = {"exclude": drop} if drop else {}
    notes = (
        [f"{clock}: a time of day, read into the time axis; the model gets its hour instead"] if clock else []
    )
    derived = ["hour"] if clock else []
    if not [c for c in kept if c != clock] and times is not None:
        derived = calendar_features(times)
        if derived:
            notes.append(
                "no column but the time and the target: the model learns from the time's "
                f"{', '.join(derived)} (features.time_features)"
            )
    if derived:
        features["time_features"] = derived
    return features, notes
