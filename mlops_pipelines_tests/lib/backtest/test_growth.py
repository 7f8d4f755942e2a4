"""A feed whose rows per day grow sixfold with no drift (loans, sign-ups): the policy retrains
on growth, and only on growth; with the rule off it never retrains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.backtest.engine import run_backtest
from mlops_pipelines.lib.backtest.history import load_history
from mlops_pipelines.lib.backtest.policy import replay_policy
from mlops_pipelines.spec import ProjectSpec, parse_spec


def growing(tmp_path: Path, growth_factor: float) -> ProjectSpec:
    rng = np.random.default_rng(4)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    per_day = np.linspace(20, 120, len(days)).astype(int)
    when = np.repeat(days, per_day) + pd.to_timedelta(rng.uniform(0, 86_000, per_day.sum()), unit="s")
    x = rng.normal(0, 1, len(when))
    frame = pd.DataFrame({"when": when, "x": x.round(4), "y": (3 * x + rng.normal(0, 1, len(when))).round(4)})
    frame.to_csv(tmp_path / "feed.csv", index=False)
    return parse_spec(
        {
            "name": "feed",
            "task": "regression",
            "data_dir": str(tmp_path),
            "source": {"kind": "csv", "files": [{"path": "feed.csv"}]},
            "schema": {"when": {"dtype": "datetime"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
            "target": "y",
            "time": {"column": "when"},
            "partitions": {"grain": "daily", "start": "2024-01-01", "end": "2024-04-30"},
            "training": {
                "family": "linear",
                "window_partitions": 28,
                "holdout_partitions": 7,
                "primary_metric": "mae",
                "search_iterations": 1,
            },
            "retraining": {"growth_factor": growth_factor, "follow_up_partitions": 0},
        }
    )


@pytest.mark.parametrize("factor", [3.0, 0.0])
def test_a_grown_feed_retrains_on_growth_and_only_with_the_rule_on(tmp_path: Path, factor: float) -> None:
    spec = growing(tmp_path, factor)
    report = run_backtest(load_history(spec, str(tmp_path), tmp_path / "cache"), policy=replay_policy)
    events = report.result("policy").schedule.events
    retrains = [e for e in events if e.kind == "retrain"]
    assert not any(e.kind == "alarm" for e in events)  # nothing drifts
    if factor:
        assert retrains and all(e.reason.startswith("data grew: 7 partitions") for e in retrains)
        assert "the rows per partition the champion trained on" in retrains[0].reason
    else:
        assert retrains == []
