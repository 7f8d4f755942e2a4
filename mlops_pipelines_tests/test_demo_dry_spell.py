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

from mlops_pipelines import cli
from mlops_pipelines_tests.rain_stream import write_rain_stream


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
