"""The backtest replays strategies on the same fits: the oracle is the ceiling, the policy is the
loop's own code, and a history too short to replay is a clear error."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops_pipelines.lib.backtest.engine import BacktestError, bootstrap_index, budget_period, run_backtest
from mlops_pipelines.lib.backtest.history import History, HistoryError, history_from_frame
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.policy import replay_policy
from mlops_pipelines.lib.backtest.schedules import oracle, periodic, static


def test_every_strategy_on_the_same_partitions_oracle_is_the_ceiling(
    short_history: History, short_bank: tuple[ModelBank, int]
) -> None:
    bank, boot = short_bank
    report = run_backtest(short_history, policy=replay_policy, periods=[7], bank=bank)
    scored = len(short_history.keys) - boot - 1
    assert len(report.partitions) == scored
    names = [r.score.strategy for r in report.results]
    assert names[:3] == ["static", "oracle", "policy"] and "periodic(7)" in names
    assert report.result("oracle").share_of_oracle == pytest.approx(1.0)
    assert report.result("oracle").score.retrains == scored - 1
    assert report.result("static").score.retrains == 0
    for result in report.results:
        assert len(result.score.per_partition) == scored
        assert len(result.schedule.serving) == scored
    # On a stream with a concept change the static model is far worse than the oracle.
    assert report.result("static").share_of_oracle is not None
    assert report.result("static").share_of_oracle < 0.8


def test_policy_serves_only_models_trained_before_each_partition(
    short_history: History, short_bank: tuple[ModelBank, int]
) -> None:
    bank, boot = short_bank
    scored = range(boot + 1, len(short_history.keys))
    schedule = replay_policy(bank, boot, scored)
    assert all(model < partition for model, partition in zip(schedule.serving, scored, strict=True))
    retrains = [e for e in schedule.events if e.kind == "retrain"]
    verdicts = [e for e in schedule.events if e.kind in ("promote", "reject")]
    assert len(retrains) == len(verdicts) == schedule.trainings - 1
    promoted = [e for e in verdicts if e.kind == "promote"]
    assert len(promoted) == schedule.retrain_count
    # The concept change on 2024-03-01 is noticed and a retrain after it goes live.
    assert any(e.partition >= "2024-03-01" for e in promoted)
    assert all(e.reason for e in schedule.events)


def test_the_policy_beats_blind_retraining_at_the_same_count(
    short_history: History, short_bank: tuple[ModelBank, int]
) -> None:
    bank, _ = short_bank
    report = run_backtest(short_history, policy=replay_policy, bank=bank)
    policy = report.result("policy")
    matched = next(r for r in report.results if r.score.strategy.startswith("periodic("))
    assert policy.share_of_oracle is not None and matched.share_of_oracle is not None
    assert policy.share_of_oracle > matched.share_of_oracle


def test_blind_retraining_at_the_budget_is_replayed_beside_the_policy(
    short_history: History, short_bank: tuple[ModelBank, int]
) -> None:
    bank, _ = short_bank
    retraining = short_history.spec.retraining
    assert (retraining.max_retrains, retraining.per_partitions) == (8, 32)
    report = run_backtest(short_history, policy=replay_policy, bank=bank)
    names = [r.score.strategy for r in report.results]
    assert "periodic(4)" in names
    assert any(
        n.startswith("periodic(4) spends the policy's whole budget (8 retrains per 32") for n in report.notes
    )
    # It never retrains more often than the cap allows, and no less.
    budget = report.result("periodic(4)")
    assert budget.score.retrains == len(range(4, len(report.partitions), 4))
    # Without a policy there is no budget to show.
    names = [r.score.strategy for r in run_backtest(short_history, periods=[9], bank=bank).results]
    assert names == ["static", "oracle", "periodic(9)"]


def test_the_budget_period_spends_the_cap_evenly_and_never_more() -> None:
    from mlops_pipelines.spec import RetrainingSpec

    assert budget_period(RetrainingSpec(max_retrains=8, per_partitions=32)) == 4
    assert budget_period(RetrainingSpec(max_retrains=3, per_partitions=10)) == 4  # 3 per 10, not 4 per 12
    assert budget_period(RetrainingSpec(max_retrains=40, per_partitions=10)) == 1


def test_reference_schedules() -> None:
    scored = range(11, 21)
    assert static(10, scored).serving == (10,) * 10
    assert oracle(10, scored).serving == tuple(range(10, 20))
    blind = periodic(10, scored, 4)
    assert blind.retrains == (14, 18)
    assert blind.serving == (10, 10, 10, 10, 14, 14, 14, 14, 18, 18)
    with pytest.raises(ValueError, match="period of at least 1"):
        periodic(10, scored, 0)


def test_a_blind_retrain_with_no_model_keeps_the_model_it_has() -> None:
    # As of 14 no model can be trained (a window of one class): the loop's run would fail and
    # its champion serve on; blind strategies keep theirs the same way and count the training.
    scored, usable = range(11, 21), (lambda as_of: as_of != 14)
    blind = periodic(10, scored, 4, usable)
    assert blind.retrains == (18,) and blind.trainings == 3
    assert blind.serving == (10,) * 8 + (18, 18)
    assert oracle(10, scored, usable).serving == (10, 11, 12, 13, 13, 15, 16, 17, 18, 19)
    # Twin: every as-of usable is the plain schedule.
    assert periodic(10, scored, 4, lambda _: True) == periodic(10, scored, 4)


def test_too_short_a_history_is_a_clear_error(short_history: History) -> None:
    few = short_history.keys[:5]
    cut = int(short_history.starts[5])
    shorter = replace(
        short_history, keys=few, table=short_history.table.iloc[:cut], starts=short_history.starts[:6]
    )
    with pytest.raises(BacktestError, match="partition\\(s\\) with rows; the first model needs"):
        bootstrap_index(shorter)


def test_an_empty_source_is_a_clear_error(short_history: History) -> None:
    with pytest.raises(HistoryError, match="holds no rows"):
        history_from_frame(short_history.table.iloc[:0], short_history.spec)
