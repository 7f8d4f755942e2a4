"""The seeded demand simulator: exact, window-independent, and drifting where it says it does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.ingestion.faults import unseen_value
from mlops_pipelines.lib.ingestion.simulate import (
    BAD_BATCH_FAULTS,
    COLUMNS,
    STATIONS,
    WEATHERS,
    bad_batch_fault,
    holidays,
    simulate,
    simulated_concept_change,
)
from mlops_pipelines.spec import ProjectSpec, SimulatorSpec

SIM = SimulatorSpec(
    seed=7, start=date(2024, 1, 1), days=150, rows_per_hour=2, concept_change=date(2024, 3, 20)
)
CHANGE = simulated_concept_change(SIM)


@pytest.fixture(scope="module")
def around_change() -> pd.DataFrame:
    return simulate(SIM, CHANGE - timedelta(days=28), CHANGE + timedelta(days=14))


def test_the_packaged_project_uses_this_simulator(specs: dict[str, ProjectSpec]) -> None:
    spec = specs["demand_sim"]
    assert spec.source.simulator == SIM.model_copy(
        update={"rows_per_hour": spec.source.simulator.rows_per_hour}
    )
    assert set(spec.columns) == set(COLUMNS)
    assert spec.columns["weather"].categories == list(WEATHERS)
    assert spec.columns["station"].categories == list(STATIONS)


def test_overlapping_windows_give_identical_rows() -> None:
    a = simulate(SIM, datetime(2024, 3, 1), datetime(2024, 3, 3))
    b = simulate(SIM, datetime(2024, 3, 2, 12), datetime(2024, 3, 4))
    overlap = (pd.Timestamp("2024-03-02 12:00"), pd.Timestamp("2024-03-03"))
    in_a = a[(a["timestamp"] >= overlap[0]) & (a["timestamp"] < overlap[1])].reset_index(drop=True)
    in_b = b[b["timestamp"] < overlap[1]].reset_index(drop=True)
    assert len(in_a) == 12 * 2
    pd.testing.assert_frame_equal(in_a, in_b)


def test_the_seed_matters() -> None:
    window = (datetime(2024, 2, 1), datetime(2024, 2, 2))
    same = simulate(SIM, *window)
    pd.testing.assert_frame_equal(same, simulate(SIM, *window))
    other = simulate(SIM.model_copy(update={"seed": 8}), *window)
    assert not same["demand"].equals(other["demand"])


def test_row_counts_dtypes_and_ranges() -> None:
    frame = simulate(SIM, datetime(2024, 1, 1), datetime(2024, 1, 8))
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 7 * 24 * 2
    assert frame.groupby(frame["timestamp"].dt.floor("h")).size().eq(2).all()
    assert frame["timestamp"].is_monotonic_increasing
    expected = {"timestamp": "datetime64[ns]", "hour": "int64", "dayofweek": "int64", "temp": "float64"}
    expected |= {"humidity": "float64", "windspeed": "float64", "weather": "object", "holiday": "int64"}
    expected |= {"station": "object", "demand": "int64"}
    assert {c: str(t) for c, t in frame.dtypes.items()} == expected
    assert (frame["hour"] == frame["timestamp"].dt.hour).all()
    assert (frame["dayofweek"] == frame["timestamp"].dt.dayofweek).all()
    assert frame["humidity"].between(0, 1).all() and frame["windspeed"].between(0, 1).all()
    assert frame["temp"].between(-30, 50).all() and (frame["demand"] >= 0).all()
    assert set(frame["weather"]) <= set(WEATHERS) and set(frame["station"]) == set(STATIONS)
    assert frame.loc[frame["timestamp"].dt.date == date(2024, 1, 1), "holiday"].eq(1).all()
    assert frame.loc[frame["timestamp"].dt.date == date(2024, 1, 2), "holiday"].eq(0).all()


def test_window_is_clipped_to_the_simulation() -> None:
    frame = simulate(SIM, datetime(2023, 12, 31), datetime(2024, 1, 2))
    assert len(frame) == 24 * 2 and frame["timestamp"].min() >= pd.Timestamp("2024-01-01")
    tail = simulate(SIM, datetime(2024, 5, 29), datetime(2024, 7, 1))
    assert len(tail) == 24 * 2  # day 150 is 2024-05-29, the last one
    empty = simulate(SIM, datetime(2025, 1, 1), datetime(2025, 1, 2))
    assert empty.empty and list(empty.columns) == list(COLUMNS)
    assert str(empty["timestamp"].dtype) == "datetime64[ns]"
    aware = simulate(SIM, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    pd.testing.assert_frame_equal(aware, simulate(SIM, datetime(2024, 1, 1), datetime(2024, 1, 2)))


def test_daily_and_weekly_seasonality() -> None:
    frame = simulate(SIM, datetime(2024, 1, 8), datetime(2024, 2, 5))
    by_hour = frame.groupby("hour")["demand"].mean()
    assert by_hour[[8, 17, 18]].min() > 3 * by_hour[[2, 3, 4]].max()  # commute peaks vs night
    workday = frame[frame["dayofweek"] < 5].groupby("hour")["demand"].mean()
    weekend = frame[frame["dayofweek"] >= 5].groupby("hour")["demand"].mean()
    assert workday[8] > 1.5 * weekend[8]  # no morning commute at weekends


def test_temperature_follows_the_year() -> None:
    january = simulate(SIM, datetime(2024, 1, 10), datetime(2024, 1, 24))["temp"].mean()
    may = simulate(SIM, datetime(2024, 5, 10), datetime(2024, 5, 24))["temp"].mean()
    assert may - january > 10


def test_concept_change_breaks_a_model_trained_before(around_change: pd.DataFrame) -> None:
    def design(frame: pd.DataFrame) -> pd.DataFrame:
        numeric = frame[["hour", "dayofweek", "temp", "humidity", "windspeed", "holiday"]].astype(float)
        dummies = [
            (frame[c] == v).astype(float).rename(f"{c}_{v}")
            for c, vs in [("weather", WEATHERS), ("station", STATIONS)]
            for v in vs
        ]
        return pd.concat([numeric, *dummies], axis=1).assign(intercept=1.0)

    times = around_change["timestamp"]
    train = around_change[times < CHANGE - timedelta(days=7)]
    holdout = around_change[(times >= CHANGE - timedelta(days=7)) & (times < CHANGE)]
    after = around_change[(times >= CHANGE) & (times < CHANGE + timedelta(days=7))]
    assert after["demand"].mean() > 1.4 * holdout["demand"].mean()
    coef, *_ = np.linalg.lstsq(design(train).to_numpy(), train["demand"].to_numpy(dtype=float), rcond=None)
    mae_before = float(np.abs(design(holdout).to_numpy() @ coef - holdout["demand"]).mean())
    mae_after = float(np.abs(design(after).to_numpy() @ coef - after["demand"]).mean())
    assert mae_after > 1.8 * mae_before


def ks_statistic(a: pd.Series, b: pd.Series) -> float:
    """Two-sample Kolmogorov-Smirnov distance (numpy only: scipy.stats costs seconds to import)."""
    grid = np.sort(np.concatenate([a.to_numpy(), b.to_numpy()]))
    cdf_a = np.searchsorted(np.sort(a.to_numpy()), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b.to_numpy()), grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def mix_distance(a: pd.Series, b: pd.Series) -> float:
    """Total variation distance between two categorical mixes."""
    shares = pd.concat([a.value_counts(normalize=True), b.value_counts(normalize=True)], axis=1).fillna(0.0)
    return float((shares.iloc[:, 0] - shares.iloc[:, 1]).abs().sum() / 2)


def test_features_drift_right_after_the_change(around_change: pd.DataFrame) -> None:
    times = around_change["timestamp"]
    weeks = [
        around_change[
            (times >= CHANGE + timedelta(days=7 * k)) & (times < CHANGE + timedelta(days=7 * (k + 1)))
        ]
        for k in (-2, -1, 0)
    ]
    earlier, before, after = weeks
    assert ks_statistic(before["humidity"], after["humidity"]) > 0.4
    assert mix_distance(before["weather"], after["weather"]) > 0.2
    # Two weeks that are both before the change do not drift like that: the twin.
    assert ks_statistic(earlier["humidity"], before["humidity"]) < 0.25
    assert mix_distance(earlier["weather"], before["weather"]) < 0.15


def test_bad_batch_schedule() -> None:
    sim = SIM.model_copy(update={"bad_batch_every": 3})
    faults = {d: bad_batch_fault(sim, date(2024, 1, 1) + timedelta(days=d)) for d in range(16)}
    bad_days = [d for d, fault in faults.items() if fault is not None]
    assert bad_days == [2, 5, 8, 11, 14]  # day numbers 3, 6, 9, 12, 15
    assert [faults[d] for d in bad_days] == list(BAD_BATCH_FAULTS)
    assert bad_batch_fault(SIM, date(2024, 1, 3)) is None  # bad_batch_every = 0 disables
    assert bad_batch_fault(sim, date(2023, 12, 29)) is None  # before the simulation


def test_bad_batches_appear_on_their_days() -> None:
    sim = SIM.model_copy(update={"bad_batch_every": 3})
    clean = simulate(SIM, datetime(2024, 1, 1), datetime(2024, 1, 16))
    dirty = simulate(sim, datetime(2024, 1, 1), datetime(2024, 1, 16))
    day = dirty["timestamp"].dt.day

    def on(frame: pd.DataFrame, number: int) -> pd.DataFrame:
        return frame[frame["timestamp"].dt.day == number].reset_index(drop=True)

    assert (on(dirty, 3)["temp"].abs() > 50).any()  # out_of_range
    assert on(dirty, 6)["humidity"].isna().all()  # all_null
    assert (on(dirty, 9)["weather"] == unseen_value("weather")).any()  # unseen_category
    assert len(on(dirty, 12)) > 48 and on(dirty, 12).duplicated().any()  # duplicates
    assert dirty["windspeed"].dtype == object  # retyped on day 15
    assert pd.to_numeric(on(dirty, 15)["windspeed"], errors="coerce").isna().any()
    clean_days = ~day.isin([3, 6, 9, 12, 15])
    pd.testing.assert_frame_equal(
        dirty[clean_days].drop(columns="windspeed").reset_index(drop=True),
        clean[~clean["timestamp"].dt.day.isin([3, 6, 9, 12, 15])]
        .drop(columns="windspeed")
        .reset_index(drop=True),
    )
    # A window of just the bad day sees the same fault as the long window.
    # (windspeed is object in the long window only because day 15 is retyped there.)
    short = simulate(sim, datetime(2024, 1, 9), datetime(2024, 1, 10))
    pd.testing.assert_frame_equal(on(dirty, 9), short, check_dtype=False)


def test_holidays() -> None:
    assert {date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 5, 27)} <= holidays(2024)
    assert {date(2024, 7, 4), date(2024, 9, 2), date(2024, 11, 28), date(2024, 12, 25)} <= holidays(2024)
    assert len(holidays(2024)) == 8
