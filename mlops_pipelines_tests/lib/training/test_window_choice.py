"""choose_window: the spec's window unless another length is better on every block and clearly.

The decision rule is tested on constructed predictions (what each length's model would predict on
each block), so each case says exactly which length wins where; the fits themselves are
exercised through `train_challenger` in test_stage.py and the backtest's bank in test_models.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.features import feature_kinds
from mlops_pipelines.lib.metrics import Predictions
from mlops_pipelines.lib.training.fit import FitError
from mlops_pipelines.lib.training.window_choice import (
    Fold,
    FoldError,
    candidate_lengths,
    choice_json,
    choose_window,
    fit_and_score,
    validation_folds,
    window_reach,
)
from mlops_pipelines.spec import PACKAGED_PROJECTS, ProjectSpec, load_spec
from mlops_pipelines_tests.lib.model_support import small

ROWS = 400  # rows per validation block: enough for the bootstrap to be sure of a real gap


def spec_with(spec: ProjectSpec, **training: object) -> ProjectSpec:
    return small(spec, **{"window_choices": [6, 24], **training})


def block(error: float, seed: int) -> Predictions:
    """A regression block whose absolute errors average `error` (noise around it, seeded)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(100, 10, ROWS)
    noise = np.abs(rng.normal(error, error / 4, ROWS))
    return Predictions(pd.RangeIndex(ROWS), truth, truth + noise, None)


def fit_predict_from(errors: dict[int, list[float]], spec: ProjectSpec, labelled: int):  # type: ignore[no-untyped-def]
    """Predictions of each length's model on each block (newest first), keyed by the folds' reach."""
    by_fold: dict[Fold, Predictions] = {}
    for length, per_block in errors.items():
        folds = validation_folds(labelled, length, spec)
        assert folds is not None
        for b, (fold, error) in enumerate(zip(folds, per_block, strict=True)):
            by_fold[fold] = block(error, seed=1000 * length + b)
    calls: list[Fold] = []

    def fit_predict(fold: Fold) -> Predictions:
        calls.append(fold)
        return by_fold[fold]

    return fit_predict, calls


def test_candidate_lengths_put_the_spec_window_first_once(bike_spec: ProjectSpec) -> None:
    assert candidate_lengths(spec_with(bike_spec, window_choices=[24, 12, 6, 24])) == (12, 24, 6)
    assert candidate_lengths(small(bike_spec)) == (12,)
    assert window_reach(spec_with(bike_spec)) == 24 + 3 * 6


def test_validation_folds_are_the_newest_blocks_and_none_without_room(bike_spec: ProjectSpec) -> None:
    spec = spec_with(bike_spec)
    folds = validation_folds(40, 12, spec)
    assert folds == [Fold(22, 33, 34, 39), Fold(16, 27, 28, 33), Fold(10, 21, 22, 27)]
    assert validation_folds(40, 24, spec)[-1] == Fold(0, 21, 22, 27)  # type: ignore[index]
    assert validation_folds(20, 12, spec) is None  # the oldest block leaves 2 partitions before it


def test_a_length_better_on_every_block_and_clearly_is_chosen(bike_spec: ProjectSpec) -> None:
    spec = spec_with(bike_spec)
    fit_predict, calls = fit_predict_from({12: [10, 10, 10], 24: [6, 7, 6], 6: [12, 12, 12]}, spec, 60)
    choice = choose_window(60, spec, fit_predict)
    assert choice.partitions == 24 and choice.changed and choice.default == 12
    assert "24 partitions instead of 12" in choice.reason and "each of the newest 3" in choice.reason
    assert len(calls) == 9  # three lengths, three blocks each
    document = choice_json(choice)
    assert [c["partitions"] for c in document["candidates"]] == [12, 6, 24]  # the spec's order
    assert document["candidates"][2]["better_on_every_block"] is True
    assert document["candidates"][2]["improvement_lower_bound"] > 0
    assert document["candidates"][1]["better_on_every_block"] is False


def test_a_length_that_loses_one_block_is_not_chosen_however_good_pooled(bike_spec: ProjectSpec) -> None:
    spec = spec_with(bike_spec)
    # 24 is far better pooled, but worse on the oldest block: a season, not a property of the stream.
    fit_predict, _ = fit_predict_from({12: [10, 10, 10], 24: [3, 3, 11], 6: [12, 12, 12]}, spec, 60)
    choice = choose_window(60, spec, fit_predict)
    assert choice.partitions == 12 and not choice.changed
    assert "no other length was better on every block" in choice.reason


def test_a_gap_within_noise_keeps_the_spec_window(bike_spec: ProjectSpec) -> None:
    spec = spec_with(bike_spec, window_choices=[24])
    truth = np.full(ROWS, 100.0)
    swing = np.tile([-5.0, 5.0], ROWS // 2)  # row by row the wider window is 5 better or 5 worse

    def fit_predict(fold: Fold) -> Predictions:
        error = np.full(ROWS, 20.0) if fold.last - fold.first + 1 == 12 else 19.99 + swing
        return Predictions(pd.RangeIndex(ROWS), truth, truth + error, None)

    choice = choose_window(60, spec, fit_predict)
    wider = choice.candidates[1]
    # Better on every block by 0.01 of 20: the paired bootstrap's interval still reaches below zero.
    assert wider.partitions == 24 and wider.wins_every_block
    assert wider.improvement_low is not None and wider.improvement_low < 0
    assert choice.partitions == 12 and not choice.changed


def test_too_little_history_or_no_choices_keep_the_spec_window_and_say_why(bike_spec: ProjectSpec) -> None:
    def never(fold: Fold) -> Predictions:
        raise AssertionError("nothing may be fitted")

    short = choose_window(20, spec_with(bike_spec), never)
    assert short.partitions == 12 and "20 labelled partitions are too few" in short.reason
    plain = choose_window(60, small(bike_spec), never)
    assert plain.partitions == 12 and plain.candidates == ()


def test_an_undefined_metric_keeps_the_spec_window_and_names_it(bike_spec: ProjectSpec) -> None:
    spec = spec_with(bike_spec, primary_metric="r2")
    constant = np.full(ROWS, 5.0)

    def one_value(fold: Fold) -> Predictions:  # r2 is undefined on a constant target
        return Predictions(pd.RangeIndex(ROWS), constant, constant, None)

    choice = choose_window(60, spec, one_value)
    assert choice.partitions == 12 and choice.candidates == ()
    assert "a validation fold cannot judge (r2 is undefined: the target is constant" in choice.reason


def test_window_choices_must_be_positive_lengths(bike_spec: ProjectSpec) -> None:
    from pydantic import ValidationError

    from mlops_pipelines.spec import TrainingSpec

    with pytest.raises(ValidationError, match="window_choices"):
        TrainingSpec(window_choices=[0])
    with pytest.raises(ValidationError, match="window_choice_blocks"):
        TrainingSpec(window_choices=[30], window_choice_blocks=0)


Rows = tuple[pd.DataFrame, pd.Series]


def classifier_fold(train_labels: list[str], test_labels: list[str]) -> tuple[ProjectSpec, Rows, Rows]:
    """adult_income's spec and two folds whose features are never reached (the checks come first)."""
    spec = small(load_spec(PACKAGED_PROJECTS / "adult_income.yaml"), window_choices=[28])
    columns = list(feature_kinds(spec))

    def rows(labels: list[str]) -> Rows:
        return pd.DataFrame({c: [0] * len(labels) for c in columns}), pd.Series(labels)

    return spec, rows(train_labels), rows(test_labels)


def test_a_block_with_a_class_its_fold_never_saw_keeps_the_spec_window() -> None:
    spec, train, test = classifier_fold(["<=50K", ">50K", "<=50K"], ["<=50K", "unknown"])
    with pytest.raises(FoldError, match=r"class\(es\) \['unknown'\] of a validation block"):
        fit_and_score(train, test, spec, {})

    def fit_predict(fold: Fold) -> Predictions:
        return fit_and_score(train, test, spec, {})

    choice = choose_window(60, spec, fit_predict)
    assert choice.partitions == spec.training.window_partitions and not choice.changed
    assert "cannot judge (class(es) ['unknown']" in choice.reason


def test_a_fold_of_one_class_keeps_the_spec_window_and_names_it() -> None:
    spec, train, test = classifier_fold(["<=50K"] * 3, ["<=50K"])
    with pytest.raises(FitError, match="single class"):
        fit_and_score(train, test, spec, {})
    choice = choose_window(60, spec, lambda fold: fit_and_score(train, test, spec, {}))
    assert choice.partitions == spec.training.window_partitions and "single class" in choice.reason
