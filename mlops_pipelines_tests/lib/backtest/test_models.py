"""The bank's fits choose their window as the loop's training does (`training.window_choices`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mlops_pipelines.lib.backtest import models
from mlops_pipelines.lib.backtest.history import History
from mlops_pipelines.lib.backtest.models import ModelBank, chosen_length, fit_window
from mlops_pipelines.lib.training.fit import fit_pipeline


def with_training(history: History, **training: object) -> History:
    spec = history.spec
    return replace(
        history, spec=spec.model_copy(update={"training": spec.training.model_copy(update=training)})
    )


def test_without_choices_the_spec_window_is_used_and_nothing_extra_is_fitted(
    short_bank: tuple[ModelBank, int],
) -> None:
    bank, _ = short_bank
    history = bank.history
    assert chosen_length(history, 45, {"no": "fit may use these"}) == history.spec.training.window_partitions


def test_a_longer_window_wins_on_a_stable_concept_and_the_bank_serves_its_fit(
    short_bank: tuple[ModelBank, int],
) -> None:
    bank, _ = short_bank
    # Four days of rows against 28 before the day-60 concept change: the longer window wins.
    history = with_training(bank.history, window_partitions=4, window_choices=[28])
    assert chosen_length(history, 45, bank.params) == 28
    as_of = 45 + history.spec.monitoring.label_delay_partitions
    chosen = ModelBank(history, bank.params, workers=1)
    window = fit_window(history, as_of, fold=True, length=28)
    assert (
        window is not None and window.last - window.first + 1 == 28 + history.spec.training.holdout_partitions
    )
    expected = fit_pipeline(
        history.features(window.first, window.last),
        history.target(window.first, window.last),
        history.spec,
        bank.params,
    )
    rows = history.features(60, 60)
    assert np.array_equal(chosen.model(as_of).predict(rows), expected.predict(rows))


def test_right_after_the_concept_change_the_long_window_is_not_proven(
    short_bank: tuple[ModelBank, int],
) -> None:
    bank, _ = short_bank
    # Labels up to day 75: the 28-day window mixes both concepts and loses a block.
    history = with_training(bank.history, window_partitions=4, window_choices=[28])
    assert chosen_length(history, 75, bank.params) == 4


def test_a_long_batch_of_fits_reports_its_pace_and_a_short_one_stays_quiet(
    short_bank: tuple[ModelBank, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, boot = short_bank
    told: list[str] = []
    quiet = ModelBank(bank.history, bank.params, workers=1, progress=told.append)
    quiet.prefit(range(boot + 1, boot + 4))
    assert told == [] and quiet.fits == 3  # well under PROGRESS_SECONDS
    monkeypatch.setattr(models, "PROGRESS_SECONDS", 0.0)
    busy = ModelBank(bank.history, bank.params, workers=2, progress=told.append)
    busy.prefit(range(boot + 1, boot + 6))
    assert busy.fits == 5 and len(told) == 4  # after each fit but the last
    assert told[0].startswith(f"{bank.history.spec.name}: fitted 1 of 5 models, about ")
    assert told[-1].startswith(f"{bank.history.spec.name}: fitted 4 of 5 models")
