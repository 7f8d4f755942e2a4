"""`--tune` searches on the first half, reports on the held-out second half, and only recommends."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.schedules import oracle
from mlops_pipelines.lib.backtest.tune import Trial, _key, current_settings, knobs, tune, with_settings


def test_tune_reports_both_halves_and_recommends_only_changes(short_bank: tuple[ModelBank, int]) -> None:
    bank, boot = short_bank
    scored = range(boot + 1, len(bank.history.keys))
    before = bank.history.spec.model_dump()
    report = tune(bank, boot, scored, oracle(boot, scored), target=0.98)
    assert bank.history.spec.model_dump() == before  # nothing applied
    assert report.split == bank.history.keys[scored.start + len(scored) // 2]
    assert report.current_first.settings == current_settings(bank.history.spec)
    assert set(report.recommendation) <= set(knobs(bank.history.spec))
    for key, value in report.recommendation.items():
        assert report.current_first.settings[key] != value
    # The recommendation is the best the search found on the tuned half.
    assert all(_key(t, 0.98) <= _key(report.best_first, 0.98) for t in report.trials)
    assert len(report.trials) > len(knobs(bank.history.spec))
    for trial in (report.current_second, report.best_second):
        assert trial.share is not None and 0 < trial.share <= 1.0 + 1e-9


def test_objective_prefers_reaching_the_target_with_fewer_retrains() -> None:
    reached_many = Trial({}, 0.985, 9)
    reached_few = Trial({}, 0.981, 4)
    missed = Trial({}, 0.97, 1)
    assert _key(reached_few, 0.98) > _key(reached_many, 0.98) > _key(missed, 0.98)
    assert _key(Trial({}, 0.95, 3), 0.98) > _key(Trial({}, 0.90, 1), 0.98)


def test_settings_out_of_range_are_refused(short_bank: tuple[ModelBank, int]) -> None:
    spec = short_bank[0].history.spec
    assert with_settings(spec, {"retraining.cooldown_partitions": 3}).retraining.cooldown_partitions == 3
    with pytest.raises(ValidationError, match="cooldown_partitions"):
        with_settings(spec, {"retraining.cooldown_partitions": -1})
    with pytest.raises(ValueError, match="training settings"):
        short_bank[0].with_spec(with_settings(spec, {"training.window_partitions": 5}))
