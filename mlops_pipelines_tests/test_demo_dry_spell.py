"""A dry spell after the first model, in the demo (real Dagster runs, the real sensor): every
retrain whose window falls inside it fails naming the class, the sensor retries it twice, the
champion serves on and the replay goes on, as under the daemon; the first retrain after the
spell is judged by the gate and, confidently worse than the champion that learned from weeks of
rain, rejected. The backtest replays the same stream alike (`lib/backtest/test_unlearnable_windows`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.scoring.stage import load_version
from mlops_pipelines.spec import load_spec
from mlops_pipelines_tests.rain_stream import DAYS, write_rain_stream


def test_retrains_inside_a_dry_spell_fail_and_the_champion_serves_on(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_rain_stream(tmp_path)
    assert cli.main(["demo", "--project", str(spec), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    failed = summary["failed_retrains"]
    assert failed and all("single class ['no']" in f["error"] for f in failed)
    # Each trigger's run and its two retries, no more; only as-ofs whose windows lie in the spell
    # (2024-01-23..02-03, seen by a window of 6 + 2 partitions after one of label delay).
    attempts = Counter(f["partition"] for f in failed)
    assert set(attempts.values()) == {3}
    assert all("2024-01-31" <= f["as_of"] <= "2024-02-12" for f in failed)
    assert "keeps serving" in err and f"and {len(failed)} failed retrain run(s)" in err
    # No failed run is counted as a retrain, and none changed the champion: the one promoted
    # before the spell serves on. The first retrain after the spell is no failure: the gate judged
    # it worse than that champion (whose window held weeks of rain) and kept the champion.
    failed_runs = {re.search(r"\(run ([0-9a-f-]{36})\)", f["error"]).group(1) for f in failed}  # type: ignore[union-attr]
    assert len(failed_runs) == len(failed) and not failed_runs & {r["run_id"] for r in summary["retrains"]}
    before = [p for p in summary["promotions"] if p["as_of"] < failed[0]["as_of"]]
    assert before and not [p for p in summary["promotions"] if p["as_of"] > failed[-1]["as_of"]]
    [after] = [d for d in summary["decisions"] if d["as_of"] > failed[-1]["as_of"]]
    assert after["verdict"] == "reject" and after["after"] < after["before"]
    assert summary["champion_version"] == before[-1]["champion_version"]
    # The retrain promoted just before the spell was evaluated on a holdout of dry days only:
    # no permutation importance there (ROC AUC has no value), and its model card says why.
    card = own_data_home / "reports" / "rainfall" / "model_cards" / f"v{before[-1]['version']}.md"
    assert "permutation importance not computed: roc_auc has no value on the holdout's" in card.read_text()


def test_a_multiclass_stream_without_heavy_rain_for_weeks_retrains_without_a_failure(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # none / light / heavy, no heavy rain 2024-01-23..02-03: a retrain then learns two of the three
    # declared classes. Its probabilities give heavy 0 (so its CV folds, evaluation folds and the
    # champion's estimator read one shape), and ROC AUC averages the classes that occur. Before,
    # every such retrain run failed ("roc_auc is undefined: not every class occurs").
    spec = write_rain_stream(tmp_path, kinds=True)
    assert cli.main(["demo", "--project", str(spec), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "failed_retrains" not in summary
    # The gate judged a challenger whose training window held no heavy rain.
    inside = [d for d in summary["decisions"] if "2024-01-31" <= d["as_of"] <= "2024-02-12"]
    assert inside and all(d["after"] is not None for d in inside)
    assert len(summary["promotions"]) >= 3  # the first model and retrains before and after the spell


def test_a_served_model_without_a_class_its_estimator_met_is_monitored(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The multiclass stream with its classes not declared, and the evaluated version itself
    # serving (`promotion.refit` off). A retrain inside the spell learns from dry days only,
    # while its evaluation's fold models, each fitted on training + holdout partitions before its
    # fold, reach back before the spell: its estimator, fitted on their pooled predictions, met
    # heavy rain, and the served model answers over two classes. Monitoring hands its output to
    # the estimator over the estimator's three classes (heavy at 0).
    # Before, the daily run of 2024-02-01..02-11 failed and the demo stopped: "monitored scores:
    # shape (24, 2) does not match 3 classes ('heavy', 'light', 'none')".
    path = write_rain_stream(tmp_path, kinds=True)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    del spec["schema"]["rain"]["categories"]
    spec["promotion"] = {"refit": False}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["demo", "--project", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "failed_retrains" not in summary and summary["partitions"] == DAYS - 1
    # A promoted version that never learned heavy rain served (no refit), and was monitored.
    uri = f"sqlite:///{own_data_home / 'mlflow' / 'mlflow.db'}"
    tracking = TrackingConfig(uri, uri, str(own_data_home / "mlflow" / "artifacts"))
    promoted = [d["version"] for d in summary["decisions"] if d["verdict"] == "promote"]
    assert all(d["refit_version"] is None for d in summary["decisions"])
    project = load_spec(path)
    served = {v: tuple(load_version(tracking, project, v, "served").classes_) for v in promoted}
    assert ("light", "none") in served.values() and ("heavy", "light", "none") in served.values()
