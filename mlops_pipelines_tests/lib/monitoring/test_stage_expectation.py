"""The loop's monitoring hands a multiclass champion's output to its estimator over the
estimator's classes. The estimator is fitted on the pooled evaluation predictions, which can
meet a class the serving model never learned (with `promotion.refit` off it learns from the
training window alone, while the fold models reach further back), so the champion scores two
columns where its estimator reads three. Before, the drift and performance assets failed there
with the estimator's shape error; the backtest, which already aligned them, now calls the same
`known_columns`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.metrics import Predictions as LabelledPredictions
from mlops_pipelines.lib.monitoring.estimation import (
    EstimationError,
    PerformanceEstimator,
    ReferencePredictions,
    fit_estimator,
)
from mlops_pipelines.lib.monitoring.stage_expectation import (
    Expectation,
    labelled_outputs,
    realized_verdict,
    scored_outputs,
)
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.scoring.prediction_log import Predictions
from mlops_pipelines.spec import ProjectSpec, Task, load_spec
from mlops_pipelines_tests.rain_stream import write_rain_stream

KINDS = ("heavy", "light", "none")


def rain_estimator(metric: str, seed: int = 0) -> PerformanceEstimator:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), 400)
    labels = np.array(KINDS, dtype=object)[proba.argmax(axis=1)]
    features = pd.DataFrame({"x": rng.normal(size=400)})
    pred = LabelledPredictions(features.index, labels, labels, proba, KINDS)
    return fit_estimator(
        Task.MULTICLASS, metric, ReferencePredictions.from_predictions(features, pred), seed=0
    )


def dry_proba(rows: int, seed: int = 3) -> np.ndarray:
    """A champion that never learned heavy rain: probabilities of light and none."""
    return np.random.default_rng(seed).dirichlet(np.ones(2), rows)


def test_batch_scores_without_a_class_reach_the_estimator_with_it_at_zero() -> None:
    estimator = rain_estimator("accuracy")
    proba = dry_proba(50)
    scored = Predictions.classification(proba, ("light", "none"), Task.MULTICLASS)
    aligned = scored_outputs(Task.MULTICLASS, scored, estimator.classes)
    assert aligned.shape == (50, 3) and not aligned[:, 0].any()
    assert np.array_equal(aligned[:, 1:], proba)
    estimate = estimator.estimate(pd.DataFrame({"x": np.zeros(50)}), aligned)
    assert estimate.value is not None and 0.0 <= estimate.value <= 1.0
    # Without the estimator's classes the two columns pass as they are, and are refused.
    with pytest.raises(EstimationError, match=r"shape \(50, 2\) does not match 3 classes"):
        estimator.estimate(pd.DataFrame({"x": np.zeros(50)}), scored_outputs(Task.MULTICLASS, scored))


def test_batch_scores_over_a_class_the_estimator_never_saw_are_refused_by_name() -> None:
    estimator = rain_estimator("accuracy", seed=1)
    proba = np.full((4, 4), 0.25)
    scored = Predictions.classification(proba, ("hail", *KINDS), Task.MULTICLASS)
    passed = scored_outputs(Task.MULTICLASS, scored, estimator.classes)
    assert np.array_equal(passed, proba)
    with pytest.raises(EstimationError, match=r"does not match 3 classes \('heavy', 'light', 'none'\)"):
        estimator.estimate(pd.DataFrame({"x": np.zeros(4)}), passed)


def test_a_champion_that_never_met_a_class_is_estimated_over_the_classes_its_estimator_knows() -> None:
    # The estimator was fitted on pooled folds that met heavy rain; the champion's window had
    # none and neither do the rows it scores, so its output has two columns. Before, the backtest
    # replay crashed estimating them ("shape (24, 2) does not match 3 classes").
    estimator = rain_estimator("roc_auc")
    assert estimator.classes == KINDS
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    dry = LabelledPredictions(
        pd.RangeIndex(3),
        np.array(["light", "none", "light"], dtype=object),
        proba[:, 0],
        proba,
        ("light", "none"),
    )
    aligned = labelled_outputs(dry, estimator.classes)
    assert aligned.shape == (3, 3) and not aligned[:, 0].any()
    assert np.array_equal(aligned[:, 1:], proba)
    rows = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    # ROC-AUC over a class expected in none of the rows has no estimate, and says why.
    assert "fewer than 1 row(s) of one" in str(estimator.estimate(rows, aligned).reason)
    accuracy = rain_estimator("accuracy")
    assert accuracy.estimate(rows, labelled_outputs(dry, accuracy.classes)).value is not None


def test_a_class_the_estimator_never_saw_is_refused_by_name() -> None:
    # The twin: a model's output over a class the estimator does not know is not cut down to
    # fit; the estimator refuses the shape and names its classes.
    estimator = rain_estimator("roc_auc", seed=1)
    proba = np.full((2, 4), 0.25)
    hail = LabelledPredictions(
        pd.RangeIndex(2),
        np.array(["hail", "none"], dtype=object),
        np.array(["hail", "none"]),
        proba,
        ("hail", *KINDS),
    )
    assert labelled_outputs(hail, estimator.classes) is proba
    with pytest.raises(EstimationError, match=r"shape \(2, 4\) does not match 3 classes"):
        estimator.estimate(pd.DataFrame({"x": [0.0, 1.0]}), labelled_outputs(hail, estimator.classes))


def labelled_dry(rows: int) -> LabelledPredictions:
    proba = dry_proba(rows)
    labels = np.array(("light", "none"), dtype=object)[proba.argmax(axis=1)]
    return LabelledPredictions(pd.RangeIndex(rows), labels, labels, proba, ("light", "none"))


def rain_spec(folder: Path, metric: str) -> ProjectSpec:
    data = load_spec(write_rain_stream(folder, kinds=True)).model_dump()
    data["training"]["primary_metric"] = metric
    data["columns"]["rain"]["categories"] = None
    return ProjectSpec.model_validate(data)


def test_the_realized_check_of_a_champion_without_a_class_is_held_to_its_estimate(tmp_path: Path) -> None:
    spec = rain_spec(tmp_path, "accuracy")
    estimator = rain_estimator("accuracy")
    pred = labelled_dry(120)
    assert labelled_outputs(pred, estimator.classes).shape == (120, 3)
    champion = ChampionRef(spec.name, "4", metric="accuracy", evaluated_score=0.7)
    expectation = Expectation("4", estimator, 0.7, 400, 0.02)
    features = pd.DataFrame({"x": np.zeros(120)})
    check, expected = realized_verdict(spec, pred, features, champion, expectation, "4")
    assert expected is not None and 0.0 <= expected <= 1.0
    assert check.value == pytest.approx(1.0)  # each row's label is the champion's top class
    assert "no expectation" not in check.reason


def test_a_window_scored_by_another_version_is_not_held_to_the_champions_estimate(tmp_path: Path) -> None:
    spec = rain_spec(tmp_path, "accuracy")
    champion = ChampionRef(spec.name, "4", metric="accuracy", evaluated_score=0.7)
    expectation = Expectation("4", rain_estimator("accuracy"), 0.7, 400, 0.02)
    features = pd.DataFrame({"x": np.zeros(120)})
    check, expected = realized_verdict(spec, labelled_dry(120), features, champion, expectation, "3")
    assert expected is None
    assert "scored by v3, not the champion" in check.reason
