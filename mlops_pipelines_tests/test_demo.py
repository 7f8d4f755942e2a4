"""The main job on a stream without drift: a closed-loop replay through a real Dagster instance, sensor included."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.demo import run_demo
from mlops_pipelines_tests.replay import drift_triggered, replay_home

__all__ = ["replay_home"]  # the fixture, imported to be used


@pytest.mark.slow
def test_adult_income_without_drift_never_retrains(replay_home: Path) -> None:
    summary = run_demo(project="adult_income", chunk=7, echo=None)
    assert summary["partitions"] == 34
    assert [r["reason"] for r in summary["retrains"]] == ["bootstrap: first model"]
    assert drift_triggered(summary) == []
    first = summary["promotions"][0]
    assert first["verdict"] == "promote" and first["after"] > 0.85
    # The first model goes live as its refit on the whole window (evaluation partitions included).
    assert first["version"] == "1" and summary["champion_version"] == first["refit_version"] == "2"
    assert summary["decisions"] == summary["promotions"]  # nothing else was judged
