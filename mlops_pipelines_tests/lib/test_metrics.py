"""Metrics on classes a model or the rows lack: a model trained on a window without one of the
declared classes, and multiclass ROC AUC on rows where one class does not occur."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LogisticRegression

from mlops_pipelines.lib.metrics import (
    Predictions,
    UndefinedMetricError,
    concat,
    declared_columns,
    metric_value,
    predict,
)
from mlops_pipelines.spec import ProjectSpec, Task, load_spec
from mlops_pipelines_tests.rain_stream import write_rain_spec

CLASSES = ("heavy", "light", "none")


def sample(n: int, occurring: tuple[str, ...], seed: int = 0) -> Predictions:
    """Probabilities over CLASSES that track the label, labels drawn from `occurring` only."""
    rng = np.random.default_rng(seed)
    y = np.asarray(rng.choice(occurring, size=n), dtype=object)
    proba = rng.dirichlet([1, 1, 1], size=n)
    proba[np.arange(n), [CLASSES.index(c) for c in y]] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    return Predictions(pd.RangeIndex(n), y, y, proba, CLASSES)


def test_a_model_that_lacks_a_declared_class_gives_it_probability_zero() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    full, classes = declared_columns(proba, ["light", "none"], list(CLASSES))
    assert classes == CLASSES
    assert full.tolist() == [[0.0, 0.2, 0.8], [0.0, 0.6, 0.4]]
    # Twin: a model that knows every declared class (or no classes declared) is left as it is.
    same, names = declared_columns(proba, ["light", "none"], ["none", "light"])
    assert same is proba and names == ("light", "none")
    assert declared_columns(proba, ["light", "none"], None)[1] == ("light", "none")


def test_multiclass_roc_auc_is_sklearns_ovr_macro_and_skips_a_class_the_rows_lack() -> None:
    every = sample(400, CLASSES)
    expected = skm.roc_auc_score(every.y_true, every.proba, multi_class="ovr", labels=list(CLASSES))
    assert metric_value(every, "roc_auc", Task.MULTICLASS) == pytest.approx(expected, abs=1e-12)
    # No heavy rain in these rows: the mean of the one-vs-rest AUCs of the classes that occur.
    dry = sample(400, ("light", "none"), seed=1)
    per_class = [
        skm.roc_auc_score(dry.y_true == c, dry.proba[:, CLASSES.index(c)]) for c in ("light", "none")
    ]
    assert metric_value(dry, "roc_auc", Task.MULTICLASS) == pytest.approx(np.mean(per_class), abs=1e-12)
    # Twin: rows of one class have no ROC AUC at all.
    with pytest.raises(UndefinedMetricError, match=r"only class\(es\) \['none'\] occur"):
        metric_value(sample(50, ("none",), seed=2), "roc_auc", Task.MULTICLASS)


def test_predictions_of_models_that_know_different_classes_pool_over_all_of_them() -> None:
    wet = sample(4, CLASSES, seed=3)
    dry_proba = np.array([[0.3, 0.7], [0.9, 0.1]])
    dry = Predictions(
        pd.RangeIndex(4, 6),
        np.array(["none", "light"], dtype=object),
        np.array(["none", "light"], dtype=object),
        dry_proba,
        ("light", "none"),
    )
    pooled = concat([wet, dry])
    assert pooled.classes == CLASSES and pooled.proba is not None
    assert pooled.proba[4:].tolist() == [[0.0, 0.3, 0.7], [0.0, 0.9, 0.1]]
    assert pooled.proba[:4].tolist() == wet.proba.tolist()  # type: ignore[union-attr]
    # Twin: parts that know the same classes are stacked as they are.
    same = concat([wet, wet])
    assert same.classes == CLASSES and same.proba is not None and same.proba.shape == (8, 3)


def _spec(tmp_path: Path, categories: list[str], declared: bool) -> ProjectSpec:
    data = load_spec(write_rain_spec(tmp_path, categories, "2024-02-29")).model_dump()
    if not declared:
        data["columns"]["rain"]["categories"] = None
    return ProjectSpec.model_validate(data)


def test_a_label_the_model_never_saw_is_a_class_at_zero_for_multiclass_and_an_error_for_binary(
    tmp_path: Path,
) -> None:
    features = pd.DataFrame({"temp": [1.0, 2.0, 9.0, 10.0]})
    model = LogisticRegression().fit(features, ["none", "none", "light", "light"])
    rows = pd.DataFrame({"temp": [1.5, 9.5, 20.0]})
    # Multiclass, categories undeclared: heavy rain the model never met scores 0 and counts as an error.
    pred = predict(model, rows, pd.Series(["none", "light", "heavy"]), _spec(tmp_path, list(CLASSES), False))
    assert pred.classes == CLASSES and pred.proba is not None and not pred.proba[:, 0].any()
    assert pred.y_pred[2] != "heavy"
    # Twin: binary, a third label is bad data and is named, whether or not categories are declared.
    for declared in (True, False):
        with pytest.raises(ValueError, match=r"label\(s\) \['maybe'\] the model never saw"):
            predict(
                LogisticRegression().fit(features, ["no", "no", "yes", "yes"]),
                rows,
                pd.Series(["no", "yes", "maybe"]),
                _spec(tmp_path, ["no", "yes"], declared),
            )
