"""lib/onboarding/sizes: the drift window `init` drafts gets a verdict on every ordinary partition,
and the gate it drafts compares enough rows to decide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_pipelines.lib.monitoring.drift import compute_drift
from mlops_pipelines.lib.onboarding.sizes import sizes
from mlops_pipelines.lib.training.window import evaluation_size
from mlops_pipelines.spec import DriftSpec, ProjectSpec


def drafted_drift(per: float) -> DriftSpec:
    return DriftSpec(**sizes(612, per)["drift"])


def window(rows: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame({"temperature": np.random.default_rng(seed).normal(10, 3, rows)})


def test_a_february_of_daily_rows_gets_a_drift_verdict_in_monthly_partitions() -> None:
    """A weather station's daily rows in monthly partitions (median 31 rows): the drafted
    `min_rows` was 30, so every February (28 rows) had no verdict; now 24."""
    drift = drafted_drift(31.0)
    assert (drift.current_window_partitions, drift.min_rows) == (1, 24)
    result = compute_drift(window(900, 0), window(28, 1), {"temperature": "numeric"}, drift)
    # A verdict (uncalibrated here, so a fixed threshold judges 28 rows), not "no verdict".
    assert result.has_verdict and result.n_current == 28


def test_a_half_empty_month_still_gets_no_verdict() -> None:
    drift = drafted_drift(31.0)
    result = compute_drift(window(900, 0), window(15, 1), {"temperature": "numeric"}, drift)
    assert result.status == "insufficient_data" and not result.has_verdict
    assert result.reasons == ("reference has 900 rows, current 15; drift.min_rows is 24",)


def test_small_partitions_widen_the_window_and_large_ones_keep_30_rows() -> None:
    assert drafted_drift(7.0).model_dump(include={"current_window_partitions", "min_rows"}) == {
        "current_window_partitions": 5,
        "min_rows": 28,
    }
    assert drafted_drift(24.0).min_rows == 30  # two days of hourly rows: 38 at 80 %, capped
    assert drafted_drift(1.0).current_window_partitions == 7 and drafted_drift(1.0).min_rows == 5


def drafted_spec(base: ProjectSpec, partitions: int, per: float) -> ProjectSpec:
    sized = sizes(partitions, per)
    training = base.training.model_copy(update=sized["training"])
    promotion = base.promotion.model_copy(update=sized["promotion"])
    return base.model_copy(update={"training": training, "promotion": promotion})


def test_the_drafted_gate_reaches_back_to_200_rows_on_small_partitions(specs: dict[str, ProjectSpec]) -> None:
    """A week of daily rows per partition: the gate used to be drafted half a holdout (49 rows),
    so it compared 98 rows, too few for any fresh model to show non-inferiority; the evaluation
    now reaches back 29 weeks to hold 200 rows, and large partitions keep the holdout."""
    weekly = drafted_spec(specs["demand_sim"], 2662, 7.0)
    assert (weekly.training.holdout_partitions, weekly.promotion.min_rows) == (14, 200)
    assert evaluation_size([7] * 2662, weekly) == 29  # 203 rows
    monthly = drafted_spec(specs["demand_sim"], 612, 31.0)
    assert evaluation_size([31] * 612, monthly) == 14  # the holdout's 434 rows are enough


def test_a_short_history_stops_the_evaluation_before_the_first_folds_window(
    specs: dict[str, ProjectSpec],
) -> None:
    """The failure twin: 30 weekly partitions cannot hold 200 evaluation rows and still leave half
    a training window to learn from, so the evaluation stops short (the gate then judges on fewer
    rows than `min_rows`, by the point estimate) rather than eat the training window."""
    spec = drafted_spec(specs["demand_sim"], 30, 7.0)
    assert (spec.training.window_partitions, spec.training.holdout_partitions) == (15, 3)
    assert evaluation_size([7] * 30, spec) == 23  # 161 rows: 30 - max(2, cv_folds, 15 // 2)
