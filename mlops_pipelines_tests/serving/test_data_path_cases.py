"""Data-path cases of ../shared/FAULT-CASES.md under their numbers, on the drift stage the
service's prediction log feeds (lib.monitoring.drift.compute_drift). The same behaviours are
tested at length in mlops_pipelines_tests/lib/monitoring/test_drift.py and lib/validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.features import FeatureKind
from mlops_pipelines.lib.monitoring.drift import compute_drift
from mlops_pipelines.spec import DriftSpec

KINDS: dict[str, FeatureKind] = {"x": "numeric", "level": "numeric", "colour": "categorical"}
SPEC = DriftSpec(min_rows=30, numeric_method="ks", numeric_threshold=0.1)


def _window(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "level": np.full(rows, 3.0),  # constant in every window
            "colour": rng.choice(["red", "green"], rows),
        }
    )


def test_case_17_an_empty_batch_is_insufficient_data_without_a_verdict() -> None:
    result = compute_drift(_window(500, 0.0, 1), _window(0, 0.0, 2), KINDS, SPEC)
    assert result.status == "insufficient_data" and not result.has_verdict
    assert np.isnan(result.drift_share) and result.columns == ()


def test_case_18_an_all_null_column_is_named_and_gets_no_verdict() -> None:
    current = _window(500, 0.0, 2)
    current["colour"] = None
    result = compute_drift(_window(500, 0.0, 1), current, KINDS, SPEC)
    assert result.skipped_columns == ("colour",)
    assert any("'colour'" in reason for reason in result.reasons)
    assert "colour" not in [c.column for c in result.columns]


@pytest.mark.parametrize("rows", [1, 3, 29])
def test_case_22_fewer_rows_than_min_rows_decide_nothing(rows: int) -> None:
    result = compute_drift(_window(500, 0.0, 1), _window(rows, 5.0, 2), KINDS, SPEC)  # shifted, yet
    assert result.status == "insufficient_data" and not result.has_verdict


@pytest.mark.parametrize("shift", [0.0, 3.0])
def test_case_23_a_column_constant_in_both_windows_gives_a_finite_drift_share(shift: float) -> None:
    result = compute_drift(_window(500, 0.0, 1), _window(500, shift, 2), KINDS, SPEC)
    assert result.has_verdict and np.isfinite(result.drift_share)
    level = next(c for c in result.columns if c.column == "level")
    assert not level.drifted
    # Failure twin: a real shift still drifts beside the constant column.
    assert any(c.drifted for c in result.columns if c.column == "x") is (shift > 0)
