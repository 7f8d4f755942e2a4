"""A binary stream with a dry spell after its first model: every window that falls inside it
holds one class, so no model can be trained there. The loop's retrain runs fail naming the
class and its champion serves on; the backtest replays exactly that, for every strategy,
instead of crashing at the first such fit, and retrains again once it rains."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.backtest.engine import bootstrap_index, bootstrap_params, run_backtest
from mlops_pipelines.lib.backtest.history import History, load_history
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.output import report_json, write_plot
from mlops_pipelines.lib.backtest.policy import replay_policy
from mlops_pipelines.spec import ProjectSpec, load_spec
from mlops_pipelines_tests.rain_stream import DAYS, DRY, write_rain_stream


def rain_history(folder: Path, dry: range) -> History:
    return load_history(load_spec(write_rain_stream(folder, dry)), None, folder / "cache")


def test_a_dry_spell_keeps_every_strategys_model_and_the_policy_retrains_after_it(tmp_path: Path) -> None:
    history = rain_history(tmp_path, DRY)
    report = run_backtest(history, policy=replay_policy, workers=1)
    keys = history.keys
    # Named once, with the first window's reason: no strategy crashed on the spell. (As of
    # 2024-01-30 the training window 01-22..01-27 still holds rain, but none of its CV
    # validation folds does: the loop's search could not judge a split by ROC AUC.)
    [note] = [n for n in report.notes if n.startswith("no model can be trained")]
    assert "as of 12 partition(s) between 2024-01-30 and 2024-02-10" in note
    assert "none of the 3 time-series validation folds holds the classes roc_auc needs" in note
    # The oracle keeps the model it had where no window can be learned (a fit as of 2024-01-30
    # would see 2024-01-22.. without rain in its validation folds), then refits after the spell.
    oracle = report.result("oracle").schedule
    served = [keys[a] for a in oracle.serving]
    stuck = served[report.partitions.index("2024-02-05") : report.partitions.index("2024-02-10")]
    assert set(stuck) == {"2024-01-29"}
    assert served[-1] == keys[-2]
    # The policy's retrains inside the spell fail naming why, each retried at most twice, and
    # the champion serves on; one after the spell goes live again.
    policy = report.result("policy").schedule
    failed = [e for e in policy.events if e.kind == "fail"]
    assert failed and all(
        "single class" in e.reason and "the champion keeps serving" in e.reason for e in failed
    )
    retries = [e for e in policy.events if e.kind == "retrain" and e.reason.startswith("retry")]
    assert 0 < len(retries) <= 2 * (len(failed) - len(retries))
    assert all(keys[a] < "2024-02-01" or keys[a] > "2024-02-10" for a in policy.retrains)
    # The first retrain after the spell is judged by the gate, not failed. Its window holds a few
    # rainy days against the champion's weeks of them, and a challenger confidently worse than its
    # champion is rejected, inside the non-inferiority margin or not: the champion serves on.
    [after] = [e for e in policy.events if e.kind in ("promote", "reject") and e.partition > "2024-02-10"]
    assert after.kind == "reject" and "confidently worse than the champion" in after.reason
    # The JSON lists the failures with the policy's events; the plot marks them.
    document = report_json(report)
    [policy_json] = [s for s in document["strategies"] if s["strategy"] == "policy"]
    assert sum(e["kind"] == "fail" for e in policy_json["events"]) == len(failed)
    assert note in document["notes"]
    assert write_plot(report, tmp_path / "backtest.png").stat().st_size > 10_000
    share = report.result("policy").share_of_oracle
    assert share is not None and share > report.result("static").share_of_oracle  # type: ignore[operator]


def test_rows_of_each_class_are_counted_per_partition_for_the_realized_window(tmp_path: Path) -> None:
    """What the realized window reaches back by (lib/monitoring/windows.evidence_window)."""
    history = rain_history(tmp_path, DRY)
    counts = history.class_counts
    assert sorted(counts) == list(range(len(history.keys)))
    for index in (0, DRY.start + 1, len(history.keys) - 1):
        assert counts[index] == history.target(index, index).astype(str).value_counts().to_dict()
    # Inside the dry spell a partition holds one class only; outside it both.
    assert len(counts[DRY.start + 1]) == 1 and len(counts[0]) == 2


def test_the_same_stream_with_rain_throughout_has_no_failed_retrain(tmp_path: Path) -> None:
    report = run_backtest(rain_history(tmp_path, range(0)), policy=replay_policy, workers=1)
    assert not [n for n in report.notes if n.startswith("no model can be trained")]
    assert not [e for e in report.result("policy").schedule.events if e.kind == "fail"]
    assert report.result("oracle").schedule.retrain_count == len(report.partitions) - 1


def test_rain_that_never_returns_keeps_the_first_model_to_the_end(tmp_path: Path) -> None:
    history = rain_history(tmp_path, range(12, DAYS))
    report = run_backtest(history, policy=replay_policy, workers=1)
    # Dry from day 12 (2024-01-13) on: the newest window the loop can learn from is as of
    # 2024-01-19 (label delay 1, holdout 2: it trains on 01-11..01-16, two of them rainy).
    # Every strategy keeps the model it has from there to the end, and the replay still
    # scores every partition.
    keys, oracle = history.keys, report.result("oracle").schedule.serving
    assert keys[max(oracle)] == "2024-01-19" and oracle[-1] == max(oracle)
    assert len(oracle) == len(report.partitions) == 53
    for strategy in ("policy", "periodic(4)"):
        assert max(report.result(strategy).schedule.serving) <= max(oracle)


@pytest.mark.parametrize(("metric", "declared"), [("roc_auc", True), ("accuracy", True), ("roc_auc", False)])
def test_a_multiclass_window_without_one_class_trains_pools_and_is_judged(
    tmp_path: Path, metric: str, declared: bool
) -> None:
    # No heavy rain for 12 days: models trained then know two of the three classes. Their
    # probabilities give heavy rain 0 (declared in the schema, or met in the rows they score),
    # so their folds pool with those of models that know it, the estimator reads them, and ROC
    # AUC averages the classes that occur. Before, the replay crashed pooling (ROC AUC) or
    # estimating (accuracy) such a model's output.
    data = load_spec(write_rain_stream(tmp_path, kinds=True)).model_dump()
    data["training"]["primary_metric"] = metric
    if not declared:
        data["columns"]["rain"]["categories"] = None
    spec = ProjectSpec.model_validate(data)
    assert (spec.classes is not None) is declared
    history = load_history(spec, None, tmp_path / "cache")
    boot = bootstrap_index(history)
    bank = ModelBank(history, bootstrap_params(history, boot), workers=1)
    report = run_backtest(history, policy=replay_policy, bank=bank)
    policy = report.result("policy")
    assert not [e for e in policy.schedule.events if e.kind == "fail"]
    assert policy.share_of_oracle is not None and policy.score.retrains >= 2
    # The oracle refits as of every partition after the first model but one (as of 2024-01-30,
    # under ROC AUC, no CV validation fold of the window holds two classes).
    usable = tuple(a for a in range(boot + 1, len(history.keys) - 1) if bank.usable(a))
    assert report.result("oracle").schedule.retrains == usable
    assert len(usable) == len(report.partitions) - (2 if metric == "roc_auc" else 1)
    # The model as of 2024-02-04 learned from 01-27..02-03: no heavy rain. On 02-10, which has
    # some, it still answers over all three classes, heavy with probability 0.
    keys = list(history.keys)
    dry_model, wet_day = keys.index("2024-02-04"), keys.index("2024-02-10")
    assert "heavy" not in set(history.target(dry_model - 8, dry_model - 1).astype(str))
    pred = bank.predict(dry_model, wet_day)
    assert pred.classes == ("heavy", "light", "none") and "heavy" in set(pred.y_true)
    assert pred.proba is not None and not pred.proba[:, 0].any()
