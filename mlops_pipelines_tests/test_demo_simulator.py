"""The main job offline on the packaged simulator: the replay reacts to its concept change."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.demo import run_demo
from mlops_pipelines_tests.replay import drift_triggered, replay_home

__all__ = ["replay_home"]  # the fixture, imported to be used


@pytest.mark.slow
def test_simulator_demo_runs_offline_and_reacts_to_the_concept_change(
    replay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_DATA_DIR")
    summary = run_demo(until="2024-04-30", chunk=7, echo=None)
    assert summary["project"] == "demand_sim"
    after_change = [r for r in drift_triggered(summary) if r["partition"] >= "2024-03-20"]
    assert after_change, summary["retrains"]
    assert any(e["partition"] >= "2024-03-20" for e in summary["drift_events"])
