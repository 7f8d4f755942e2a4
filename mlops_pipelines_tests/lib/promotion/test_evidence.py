"""Which evaluated partitions the gate compares the two models on: never one the champion
trained on, nor one whose fold model learned from older data than the champion did."""

from __future__ import annotations

from mlops_pipelines.lib.evaluation.backtest import Fold
from mlops_pipelines.lib.promotion.evidence import excluded_partitions

DAYS = tuple(f"2024-05-{d:02d}" for d in range(1, 11))  # 05-01 .. 05-10
EVALUATED = DAYS[3:10]  # 05-04 .. 05-10, in three folds
FOLDS = (
    Fold(DAYS[3:6], DAYS[:3], "refit", 30),  # fitted up to 05-03
    Fold(DAYS[6:8], DAYS[:6], "refit", 20),  # fitted up to 05-06
    Fold(DAYS[8:10], DAYS[:8], "refit", 20),  # fitted up to 05-08
)


def test_a_fold_fitted_on_older_data_than_the_champion_is_left_out_with_the_champions_own_rows() -> None:
    # The champion learned up to 05-04: it saw 05-04, and fold 1's model (up to 05-03) is staler
    # than it on 05-05 and 05-06, where the challenger that serves would not be.
    champion = ("2024-04-01", "2024-05-04")
    assert excluded_partitions(EVALUATED, champion, FOLDS) == DAYS[3:6]


def test_folds_fitted_at_least_as_recently_as_the_champion_are_all_compared() -> None:
    # The failure twin: a champion that learned up to 05-03 is no fresher than any fold.
    champion = ("2024-04-01", "2024-05-03")
    assert excluded_partitions(EVALUATED, champion, FOLDS) == ()
    # Without fold records (an older evaluation) only the champion's own range is left out.
    assert excluded_partitions(EVALUATED, ("2024-04-01", "2024-05-06"), ()) == DAYS[3:6]
    assert excluded_partitions(EVALUATED, None, FOLDS) == ()
