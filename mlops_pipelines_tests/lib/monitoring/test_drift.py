"""Exact drift statistics: agreement with scipy, verdicts on real data, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from mlops_pipelines.lib.features import FeatureKind
from mlops_pipelines.lib.monitoring import drift_stats as stats
from mlops_pipelines.lib.monitoring.drift import compute_drift, data_quality, prediction_drift, target_drift
from mlops_pipelines.spec import DriftSpec

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
    "income",
]  # fmt: skip


def frames(shift: float, rows: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current with `shift` applied to x (numeric) and to colour's mix."""
    rng = np.random.default_rng(seed)

    def side(delta: float) -> pd.DataFrame:
        p = np.array([0.5, 0.3, 0.2]) if delta == 0 else np.array([0.2, 0.3, 0.5])
        return pd.DataFrame(
            {
                "x": rng.normal(delta, 1.0, rows),
                "y": rng.normal(0.0, 1.0, rows),
                "colour": rng.choice(["red", "green", "blue"], rows, p=p),
            }
        )

    return side(0.0), side(shift)


KINDS: dict[str, FeatureKind] = {"x": "numeric", "y": "numeric", "colour": "categorical"}
METHODS = [
    ("ks", "chisquare", 0.1, 0.05),
    ("psi", "psi", 0.2, 0.2),
    ("wasserstein", "jensenshannon", 0.1, 0.1),
]


@pytest.mark.parametrize(("num", "cat", "num_t", "cat_t"), METHODS)
def test_known_shift_drifts_every_method(num: str, cat: str, num_t: float, cat_t: float) -> None:
    spec = DriftSpec(
        numeric_method=num, numeric_threshold=num_t, categorical_method=cat, categorical_threshold=cat_t
    )
    result = compute_drift(*frames(shift=1.0), KINDS, spec)
    assert result.drifted_columns == ("x", "colour")
    assert result.status == "error"  # 2/3 >= error_share 0.5
    assert result.drift_share == pytest.approx(2 / 3)
    assert [c.method for c in result.columns] == [num, num, cat]


@pytest.mark.parametrize(("num", "cat", "num_t", "cat_t"), METHODS)
def test_no_shift_no_drift_every_method(num: str, cat: str, num_t: float, cat_t: float) -> None:
    spec = DriftSpec(
        numeric_method=num, numeric_threshold=num_t, categorical_method=cat, categorical_threshold=cat_t
    )
    result = compute_drift(*frames(shift=0.0), KINDS, spec)
    assert result.status == "ok"
    assert result.drifted_columns == ()
    assert result.drift_share == 0.0


def test_warn_between_shares() -> None:
    reference, current = frames(shift=0.0)
    current = current.assign(x=current["x"] + 2.0)
    result = compute_drift(reference, current, KINDS, DriftSpec(warn_share=0.3, error_share=0.5))
    assert result.drifted_columns == ("x",)
    assert result.status == "warn"


samples = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's asymptotic p-value on tiny samples
@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_and_wasserstein_equal_scipy_with_ties(ref: list[float], cur: list[float]) -> None:
    r, c = np.sort(np.array(ref)), np.sort(np.array(cur))
    assert stats.ks_statistic(r, c) == pytest.approx(ks_2samp(ref, cur, method="asymp").statistic, abs=1e-12)
    expected = wasserstein_distance(ref, cur) / max(float(np.std(ref)), stats.WASSERSTEIN_MIN_STD)
    assert stats.wasserstein_normed(r, c) == pytest.approx(expected, abs=1e-9)


def test_psi_equals_reference_quantile_definition() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.gamma(2.0, size=5000), rng.gamma(2.5, size=3000)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    expected = np.sum((cur_share - ref_share) * np.log(cur_share / ref_share))
    assert stats.psi_numeric(np.sort(ref), np.sort(cur)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("new_value", [1.0, 7.0])
def test_psi_sees_a_value_above_a_discrete_reference_top(new_value: float) -> None:
    # A flag that was always 0 in the reference: every quantile edge is 0, so a 1 used to share
    # the top bin with the reference's 0s and PSI read 0 for a flag that flipped on every row.
    ref, cur = np.zeros(500), np.full(100, new_value)
    eps = stats.PSI_EPSILON
    assert stats.psi_numeric(ref, cur) == pytest.approx(2 * (1 - eps) * np.log(1 / eps), rel=1e-12)
    half = np.sort(np.r_[np.zeros(50), np.full(50, new_value)])
    expected = 0.5 * np.log(2) + (0.5 - eps) * np.log(0.5 / eps)  # half the 0s gone, half new
    assert stats.psi_numeric(ref, half) == pytest.approx(expected, rel=1e-12)


def test_psi_of_a_discrete_reference_against_its_own_values_stays_zero() -> None:
    ref = np.sort(np.r_[np.zeros(300), np.ones(200)])  # both values seen: nothing is new
    cur = np.sort(np.r_[np.zeros(60), np.ones(40)])
    assert stats.psi_numeric(ref, cur) == pytest.approx(0.0, abs=1e-12)
    assert stats.psi_numeric(np.zeros(500), np.zeros(100)) == pytest.approx(0.0, abs=1e-12)


def test_a_flag_turning_on_drifts_under_psi_and_is_named() -> None:
    spec = DriftSpec(numeric_method="psi", categorical_method="psi")
    reference = pd.DataFrame({"area_3": np.zeros(2000, dtype=int), "x": np.arange(2000) % 97})
    current = pd.DataFrame({"area_3": np.ones(200, dtype=int), "x": np.arange(200) % 97})
    result = compute_drift(reference, current, {"area_3": "numeric", "x": "numeric"}, spec)
    assert result.drifted_columns == ("area_3",)
    quiet = compute_drift(reference, current.assign(area_3=0), {"area_3": "numeric", "x": "numeric"}, spec)
    assert quiet.drifted_columns == ()


def test_categorical_statistics_equal_scipy() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 5)
    cur = pd.Series(pd.Categorical(["a"] * 20 + ["b"] * 30 + ["d"] * 10))
    ref_counts, cur_counts = stats.category_counts(ref, cur)
    assert sorted(zip(ref_counts, cur_counts, strict=True)) == [(0, 10), (20, 0), (30, 30), (50, 20)]
    table = np.vstack([ref_counts, cur_counts])
    assert stats.chisquare_pvalue(ref_counts, cur_counts) == pytest.approx(
        chi2_contingency(table, correction=False).pvalue
    )
    assert stats.jensenshannon_distance(ref_counts, cur_counts) == pytest.approx(
        jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    )


def test_chisquare_false_alarm_rate_matches_threshold() -> None:
    """Same distribution on both sides: p < 0.05 about 5% of the time, not the 20%+ of a fit test."""
    rng = np.random.default_rng(11)
    p = [0.3, 0.3, 0.2, 0.1, 0.1]
    alarms = sum(
        stats.chisquare_pvalue(
            *stats.category_counts(pd.Series(rng.choice(5, 5000, p=p)), pd.Series(rng.choice(5, 5000, p=p)))
        )
        < 0.05
        for _ in range(200)
    )
    assert alarms <= 20


def test_float32_columns_give_the_float64_scores() -> None:
    reference, current = frames(shift=0.3)
    ref32, cur32 = (f.astype({"x": "float32", "y": "float32"}) for f in (reference, current))
    ref64, cur64 = (f.astype({"x": "float64", "y": "float64"}) for f in (ref32, cur32))
    for method in ("ks", "psi", "wasserstein"):
        spec = DriftSpec(numeric_method=method)
        got, want = compute_drift(ref32, cur32, KINDS, spec), compute_drift(ref64, cur64, KINDS, spec)
        assert [c.score for c in got.columns] == pytest.approx([c.score for c in want.columns], rel=1e-5)


def test_input_frames_are_not_modified() -> None:
    reference, current = frames(shift=1.0)
    before = reference.copy()
    compute_drift(reference, current, KINDS, DriftSpec(numeric_method="ks", numeric_threshold=0.1))
    pd.testing.assert_frame_equal(reference, before)


def test_threads_do_not_change_the_result() -> None:
    reference, current = frames(shift=0.3)
    spec = DriftSpec(numeric_method="wasserstein", numeric_threshold=0.1)
    assert compute_drift(reference, current, KINDS, spec, workers=1) == compute_drift(
        reference, current, KINDS, spec, workers=3
    )


@pytest.mark.parametrize("rows", [0, 29])
def test_too_few_rows_is_insufficient_data(rows: int) -> None:
    reference, current = frames(shift=5.0)
    result = compute_drift(reference, current.head(rows), KINDS, DriftSpec(min_rows=30))
    assert result.status == "insufficient_data"
    assert not result.has_verdict and np.isnan(result.drift_share)
    assert result.columns == () and result.n_current == rows
    assert f"current {rows}" in result.reasons[0]


def test_empty_reference_is_insufficient_data() -> None:
    _, current = frames(shift=0.0)
    result = compute_drift(pd.DataFrame(columns=list(KINDS)), current, KINDS, DriftSpec())
    assert result.status == "insufficient_data"


def test_all_null_current_column_is_skipped_and_named() -> None:
    reference, current = frames(shift=1.0)
    current["colour"] = None
    result = compute_drift(reference, current, KINDS, DriftSpec(numeric_method="ks", numeric_threshold=0.1))
    assert result.has_verdict
    assert result.skipped_columns == ("colour",)
    assert [c.column for c in result.columns] == ["x", "y"]
    assert any("'colour'" in r and "data-quality" in r for r in result.reasons)


def test_every_column_null_gives_no_verdict() -> None:
    reference, current = frames(shift=1.0)
    current[list(KINDS)] = np.nan
    result = compute_drift(reference, current, KINDS, DriftSpec())
    assert result.status == "insufficient_data"
    assert result.drifted_columns == ()


def test_numeric_column_of_strings_is_invalid_and_named() -> None:
    reference, current = frames(shift=1.0)
    current["y"] = "n/a"
    result = compute_drift(reference, current, KINDS, DriftSpec())
    assert result.status == "invalid"
    assert not result.has_verdict and result.columns == ()
    assert any("'y'" in r and "current" in r for r in result.reasons)


def test_numeric_strings_that_parse_are_accepted() -> None:
    reference, current = frames(shift=0.0)
    current["y"] = current["y"].map(repr).astype(object)
    result = compute_drift(reference, current, KINDS, DriftSpec())
    assert result.status == "ok"
    assert result.columns[1].column == "y" and not result.columns[1].drifted


def test_missing_column_is_invalid() -> None:
    reference, current = frames(shift=0.0)
    result = compute_drift(reference, current.drop(columns="y"), KINDS, DriftSpec())
    assert result.status == "invalid"
    assert result.reasons == ("column 'y' is missing from the current",)


def test_nulls_are_counted_not_compared() -> None:
    reference, current = frames(shift=0.0)
    current.loc[: len(current) // 4 - 1, "x"] = np.nan
    result = compute_drift(reference, current, KINDS, DriftSpec())
    x = result.columns[0]
    assert x.cur_rows == len(current) * 3 // 4
    assert x.null_share_cur == pytest.approx(0.25) and x.null_share_ref == 0.0


def test_data_quality_reports_null_shares() -> None:
    frame = pd.DataFrame({"x": [1.0, None, 3.0, None], "colour": [None] * 4})
    quality = data_quality(frame, {**KINDS})
    assert quality.rows == 4
    assert quality.null_share == {"x": 0.5, "colour": 1.0}
    assert quality.missing_columns == ("y",)
    assert quality.problems == ("column 'y' is missing", "column 'colour' is entirely null")


def test_a_sparse_column_null_throughout_is_no_quality_problem() -> None:
    frame = pd.DataFrame({"x": [None] * 4, "colour": [None] * 4})
    quality = data_quality(frame, {"x": "numeric", "colour": "categorical"}, sparse={"colour"})
    assert quality.null_share == {"x": 1.0, "colour": 1.0}
    assert quality.problems == ("column 'x' is entirely null",)


def test_prediction_and_target_helpers() -> None:
    rng = np.random.default_rng(5)
    same = prediction_drift(
        pd.Series(rng.normal(size=500)), pd.Series(rng.normal(size=500)), "numeric", DriftSpec()
    )
    moved = target_drift(
        pd.Series(["a"] * 400 + ["b"] * 100, name="label"), pd.Series(["b"] * 500), "categorical", DriftSpec()
    )
    assert same.status == "ok" and same.columns[0].column == "prediction"
    assert moved.status == "error" and moved.drifted_columns == ("label",)


@pytest.fixture(scope="module")
def bike(shared_data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv", parse_dates=["dteday"])


def test_bike_target_grows_from_2011_to_2012(bike: pd.DataFrame) -> None:
    result = target_drift(
        bike.loc[bike.yr == 0, "cnt"], bike.loc[bike.yr == 1, "cnt"], "numeric", DriftSpec()
    )
    assert result.drifted_columns == ("cnt",)
    assert result.columns[0].score == pytest.approx(0.24, abs=0.01)


def test_bike_weather_barely_moves_between_years(bike: pd.DataFrame) -> None:
    weather: dict[str, FeatureKind] = {"temp": "numeric", "hum": "numeric", "weathersit": "categorical"}
    result = compute_drift(bike[bike.yr == 0], bike[bike.yr == 1], weather, DriftSpec())
    assert result.status == "ok" and result.drifted_columns == ()


def test_bike_temperature_drifts_with_the_season(bike: pd.DataFrame) -> None:
    month = bike["dteday"].dt.month
    spec = DriftSpec(numeric_method="ks", numeric_threshold=0.1)
    result = compute_drift(bike[month.isin([1, 2])], bike[month.isin([6, 7])], {"temp": "numeric"}, spec)
    assert result.drifted_columns == ("temp",)
    assert result.columns[0].score > 0.9


def test_adult_train_vs_test_has_no_drift(shared_data_dir: Path) -> None:
    def read(name: str, skiprows: int) -> pd.DataFrame:
        path = shared_data_dir / "adult" / name
        return pd.read_csv(
            path, header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values=["?"], skiprows=skiprows
        )

    train, test = read("adult.data", 0), read("adult.test", 1)  # adult.test opens with a banner line
    test["income"] = test["income"].str.rstrip(".")
    kinds: dict[str, FeatureKind] = {
        c: ("categorical" if train[c].dtype == object else "numeric") for c in ADULT_COLUMNS
    }
    spec = DriftSpec(numeric_method="ks", numeric_threshold=0.05, categorical_method="psi")
    result = compute_drift(train, test, kinds, spec)
    assert result.status == "ok" and result.drifted_columns == ()
    assert max(c.score for c in result.columns if c.kind == "numeric") <= 0.01


def test_no_column_to_compare_is_no_verdict_not_a_failure() -> None:
    """A series learning only from its time's calendar watches no drift column: each partition
    says why, and no check fails on every partition for it."""
    ref, cur = frames(1.0)
    result = compute_drift(ref, cur, {}, DriftSpec())
    assert (result.status, result.has_verdict, result.drifted_columns) == ("insufficient_data", False, ())
    assert result.reasons == (
        "no column to compare: every feature is in drift.exclude or derived from the time",
    )
    # The twin: with a column to compare, the shift is a verdict.
    assert compute_drift(ref, cur, {"x": "numeric"}, DriftSpec()).status == "error"


def test_derived_time_features_are_not_drift_columns() -> None:
    """A new month is the calendar moving, not the data: derived time features feed the model only."""
    from mlops_pipelines.lib.features import feature_kinds
    from mlops_pipelines.lib.monitoring.stage_drift import drift_kinds
    from mlops_pipelines.spec import parse_spec

    spec = parse_spec(
        {
            "name": "load",
            "task": "regression",
            "source": {"kind": "csv", "files": [{"path": "load.csv"}]},
            "schema": {"ts": {"dtype": "datetime"}, "mw": {"dtype": "float"}, "temp": {"dtype": "float"}},
            "target": "mw",
            "time": {"column": "ts"},
            "partitions": {"grain": "daily", "start": "2024-01-01"},
            "features": {"time_features": ["hour", "month"]},
        }
    )
    assert list(feature_kinds(spec)) == ["temp", "time_hour", "time_month"]
    assert drift_kinds(spec) == {"temp": "numeric"}
