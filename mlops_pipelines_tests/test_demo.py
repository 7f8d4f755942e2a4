"""The main job: closed-loop replays through a real Dagster instance, sensor included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from mlops_pipelines.demo import run_demo
from mlops_pipelines.spec import PACKAGED_PROJECTS, PROJECTS_DIR_ENV


@pytest.fixture
def replay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data_dir: Path) -> Iterator[Path]:
    home = tmp_path / "mlops"
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(shared_data_dir))
    yield home


def mae_on_2012(home: Path, version: str) -> float:
    from mlops_pipelines.lib.lake import read
    from mlops_pipelines.lib.registry.model_loading import load_model
    from mlops_pipelines.lib.training.window import split_features
    from mlops_pipelines.resources.tracking import LocalMlflowTracking
    from mlops_pipelines.spec import load_specs

    spec = load_specs()["bike_sharing"]
    rows = read(str(home / "lake/bike_sharing/features"))
    labelled = split_features(rows[rows["_partition"] >= "2012-01-01"], spec)
    model = load_model(LocalMlflowTracking().config(), "bike_sharing", version).model.get_raw_model()
    return float((model.predict(labelled.features) - labelled.target).abs().mean())


def drift_triggered(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in summary["retrains"] if not r["reason"].startswith("bootstrap")]


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


@pytest.mark.slow
def test_bike_sharing_replay_detects_the_2012_shift_and_the_new_champion_beats_the_old(
    replay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CI budget: at the default cadence the loop retrains about 25 times over these 425 days
    # (each a Dagster run with search, rolling-origin evaluation and refit); this test is about
    # detection and the champion's quality, and the backtest measures the cadence, so a copy of
    # the spec retrains at most once every 28 partitions here.
    spec = yaml.safe_load((PACKAGED_PROJECTS / "bike_sharing.yaml").read_text(encoding="utf-8"))
    spec["retraining"].update(cooldown_partitions=28, follow_up_partitions=28)
    projects = replay_home / "projects"
    projects.mkdir()
    (projects / "bike_sharing.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setenv(PROJECTS_DIR_ENV, str(projects))
    lines: list[str] = []
    summary = run_demo(project="bike_sharing", until="2012-02-29", chunk=14, echo=lines.append)
    assert summary["partitions"] == 425
    # Calibrated drift no longer flags nearly every day (it flagged 693 of 731 with fixed
    # thresholds): seasonal weather the training window already covers is not an alarm.
    assert 0 < len(summary["drift_events"]) < 0.5 * summary["partitions"]
    # 2012's demand is a level shift (more riders in the same weather): the features barely
    # move, the realized error does, and that signal retrains the model.
    in_2012 = [r for r in drift_triggered(summary) if r["partition"] >= "2012-01-01"]
    assert in_2012, summary["retrains"]
    assert any("performance" in r["reason"] for r in in_2012), in_2012
    assert all(r["as_of"] >= r["partition"] for r in summary["retrains"])
    assert summary["champion_version"] != "1"
    # On 2012 data, the champion the loop ends with beats the first (early-2011) champion.
    first, final = mae_on_2012(replay_home, "1"), mae_on_2012(replay_home, summary["champion_version"])
    assert final < first, (final, first)
    assert any("retrain as of 2012" in line for line in lines)

    with dg.DagsterInstance.get() as instance:  # afterwards the instance holds it all for `dagster dev`
        drift = instance.fetch_observations(dg.AssetKey(["bike_sharing", "drift"]), limit=1000).records
        assert len({r.event_log_entry.asset_observation.partition for r in drift}) == 425
        runs = instance.get_runs(dg.RunsFilter(job_name="bike_sharing__retrain"))
        assert len(runs) == len(summary["retrains"])


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
