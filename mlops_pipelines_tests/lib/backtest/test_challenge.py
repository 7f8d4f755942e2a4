"""The replay's challenge is compared with the champion where the loop's gate compares them:
after the champion's training data, and only where the fold model learned from data at least
as recent as the champion's (`promotion.evidence.excluded_partitions`)."""

from __future__ import annotations

from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.policy import rolling_origin
from mlops_pipelines.lib.backtest.signals import champion_of


def test_a_fold_fitted_on_older_data_than_the_champion_is_not_compared(
    short_bank: tuple[ModelBank, int],
) -> None:
    bank, boot = short_bank
    as_of = boot + 20  # evaluates as_of-7 .. as_of-1 in folds of 3, 3 and 1 partitions
    # The champion learned up to as_of-6; fold 1 (as_of-7 .. as_of-5) learned only up to as_of-8.
    challenge = rolling_origin(bank, as_of, champion_of(bank, "1", as_of - 5, None))
    assert challenge is not None and challenge.champion is not None
    assert challenge.partitions == list(range(as_of - 7, as_of))
    assert challenge.comparable == list(range(as_of - 4, as_of))
    assert (
        len(challenge.challenger.y_true)
        == len(challenge.champion.y_true)
        == len(bank.history.rows(as_of - 4, as_of - 1))
    )


def test_every_fold_at_least_as_fresh_as_the_champion_is_compared(short_bank: tuple[ModelBank, int]) -> None:
    bank, boot = short_bank
    as_of = boot + 20
    # The failure twin: a champion that learned up to as_of-8 is no fresher than fold 1.
    challenge = rolling_origin(bank, as_of, champion_of(bank, "1", as_of - 7, None))
    assert challenge is not None and challenge.comparable == list(range(as_of - 7, as_of))
