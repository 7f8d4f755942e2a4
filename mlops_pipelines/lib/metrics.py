"""Metric definitions shared by cross-validation scoring, evaluation and the promotion gate.

One module computes every metric so a model's CV score, its holdout report and the promotion
bootstrap cannot disagree on what "f1" or "mape" means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.spec import Task

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

REGRESSION_METRICS = ("rmse", "mae", "mape", "r2")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
_LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "log_loss", "brier"})

Scorer = Callable[[Any, pd.DataFrame, pd.Series], float]


def higher_is_better(metric: str) -> bool:
    """Direction of a metric this module knows; an unknown name is an error, not a guess."""
    if metric not in REGRESSION_METRICS and metric not in CLASSIFICATION_METRICS:
        known = ", ".join(REGRESSION_METRICS + CLASSIFICATION_METRICS)
        raise ValueError(f"unknown metric '{metric}'; known metrics: {known}")
    return metric not in _LOWER_IS_BETTER


def task_metrics(task: Task) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task.is_classification else REGRESSION_METRICS


def check_metric(task: Task, metric: str, field: str) -> None:
    """Raise if `metric` (named by spec `field`) is not computed for `task`."""
    known = task_metrics(task)
    if metric not in known:
        raise ValueError(
            f"{field}: metric '{metric}' is not defined for a {task.value} task; use one of {known}"
        )


def positive_label(classes: Sequence[str], declared: Sequence[str] | None) -> str:
    """The positive class of a binary task: the last declared category, else the last in sort order.

    Sort order matches sklearn's `classes_`, so undeclared labels keep sklearn's convention.
    """
    if declared and declared[-1] in classes:
        return str(declared[-1])
    return str(sorted(classes)[-1])


def declared_columns(
    proba: np.ndarray, classes: Sequence[str], declared: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """A model's (rows, classes) probabilities over every declared class, in sort order as
    sklearn's `classes_`: a model whose window lacked a class (no heavy rain for weeks) gives
    it probability 0, so its output pools with, and is judged against, models that know it."""
    names = tuple(str(c) for c in classes)
    missing = sorted(set(declared or ()) - set(names))
    if not missing:
        return proba, names
    every = tuple(sorted((*names, *missing)))
    full = np.zeros((proba.shape[0], len(every)), dtype="float64")
    full[:, [every.index(c) for c in names]] = proba
    return full, every


def known_columns(proba: np.ndarray, classes: Sequence[str], known: Sequence[str] | None) -> np.ndarray:
    """A multiclass model's probabilities over the `known` classes (an estimator's), in their
    order, when the model's classes are among them: a model whose window lacked a class gives
    it probability 0, while its estimator was fitted on predictions that met it. A class the
    estimator never saw is not cut away: the matrix is returned as it is, for the estimator to
    refuse by name."""
    names = tuple(str(c) for c in classes)
    if not known or names == tuple(known) or not set(names) <= set(known):
        return proba
    full, every = declared_columns(proba, names, known)
    return full[:, [every.index(c) for c in known]]


@dataclass(frozen=True)
class Predictions:
    """A model's output on labelled rows, aligned by `index` with the rows it scored."""

    index: pd.Index
    y_true: np.ndarray  # str labels (classification) or float64 (regression)
    y_pred: np.ndarray
    proba: np.ndarray | None  # (rows, classes) in `classes` order; None for regression
    classes: tuple[str, ...] = ()
    positive: str | None = None  # binary tasks only

    @property
    def positive_scores(self) -> np.ndarray:
        if self.proba is None or self.positive is None:
            raise ValueError("positive-class scores exist only for binary classification")
        return np.asarray(self.proba[:, self.classes.index(self.positive)])

    def subset(self, mask: np.ndarray) -> Predictions:
        proba = None if self.proba is None else self.proba[mask]
        return Predictions(
            self.index[mask], self.y_true[mask], self.y_pred[mask], proba, self.classes, self.positive
        )


def concat(parts: Sequence[Predictions]) -> Predictions:
    """One Predictions over several partitions' rows (same task and classes)."""
    if not parts:
        raise ValueError("no predictions to pool")
    first = parts[0]
    classes = first.classes
    proba = None
    if first.proba is not None:
        # Models fitted on different windows may know different classes: pool over all of them.
        classes = tuple(sorted({c for p in parts for c in p.classes}))
        proba = np.concatenate(
            [declared_columns(p.proba, p.classes, classes)[0] for p in parts if p.proba is not None]
        )
    return Predictions(
        pd.Index(np.concatenate([np.asarray(p.index) for p in parts])),
        np.concatenate([p.y_true for p in parts]),
        np.concatenate([p.y_pred for p in parts]),
        proba,
        classes,
        first.positive,
    )


def predict(pipeline: Any, features: pd.DataFrame, target: pd.Series, spec: ProjectSpec) -> Predictions:
    """Score `features` with a fitted pipeline and pair the output with the true labels."""
    if not features.index.equals(target.index):
        raise ValueError("features and target are not aligned: their indexes differ")
    if target.isna().any():
        raise ValueError(
            f"target '{spec.target}' has {int(target.isna().sum())} null value(s): label them first"
        )
    if not spec.task.is_classification:
        y_pred = np.asarray(pipeline.predict(features), dtype="float64")
        return Predictions(features.index, target.to_numpy(dtype="float64"), y_pred, None)
    y_true = target.astype("str").to_numpy(dtype=object)
    # Every declared class, and for a multiclass target any label of these rows the model never
    # saw (declared without categories): probability 0, its rows count as errors. A binary
    # model always knows both classes, so a third label there is bad data and stays an error.
    met = set(y_true) if spec.task is Task.MULTICLASS else set()
    proba, classes = declared_columns(
        np.asarray(pipeline.predict_proba(features), dtype="float64"),
        pipeline.classes_,
        [*(spec.classes or ()), *met],
    )
    unseen = sorted(set(y_true) - set(classes))
    if unseen:
        raise ValueError(f"target '{spec.target}' has label(s) {unseen} the model never saw: {list(classes)}")
    # The argmax of the probabilities is what predict() returns for every family here; taking
    # it from proba halves the work (permutation importance predicts dozens of times).
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    positive = positive_label(classes, spec.classes) if spec.task is Task.BINARY else None
    return Predictions(features.index, y_true, y_pred, proba, classes, positive)


class UndefinedMetricError(ValueError):
    """A metric that has no value on these rows (e.g. ROC-AUC when only one class occurs)."""


def _regression_value(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    error = y_true - y_pred
    if metric == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "mape":
        # sklearn's MAPE divides by machine epsilon on zero targets (values around 1e15): count
        # data has real zeros, so those rows are left out (compute_metrics reports how many).
        nonzero = y_true != 0
        if not nonzero.any():
            raise UndefinedMetricError("mape is undefined: every target is zero")
        return float(np.mean(np.abs(error[nonzero]) / np.abs(y_true[nonzero])))
    if len(y_true) < 2 or np.ptp(y_true) == 0:
        raise UndefinedMetricError("r2 is undefined: the target is constant on these rows")
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


def _classification_value(metric: str, pred: Predictions) -> float:
    from sklearn import metrics as skm

    assert pred.proba is not None
    labels = list(pred.classes)
    binary = pred.positive is not None
    if metric == "accuracy":
        return float(np.mean(pred.y_true == pred.y_pred))
    if metric in ("precision", "recall", "f1"):
        function = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[metric]
        averaging: dict[str, Any] = {"average": "binary", "pos_label": pred.positive}
        if not binary:
            averaging = {"average": "macro", "labels": labels}
        return float(function(pred.y_true, pred.y_pred, zero_division=0.0, **averaging))
    if metric == "log_loss":
        return float(skm.log_loss(pred.y_true, pred.proba, labels=labels))
    if metric == "brier":
        if binary:
            return float(skm.brier_score_loss(pred.y_true == pred.positive, pred.positive_scores))
        onehot = pred.y_true[:, None] == np.asarray(labels, dtype=object)[None, :]
        return float(np.mean(np.sum((pred.proba - onehot) ** 2, axis=1)))
    present = set(pred.y_true)
    if len(present) < 2:
        raise UndefinedMetricError(
            f"roc_auc is undefined: only class(es) {sorted(present)} occur in these rows"
        )
    if binary:
        return float(skm.roc_auc_score(pred.y_true == pred.positive, pred.positive_scores))
    # One-vs-rest AUC of each class that occurs, unweighted: sklearn's "ovr" macro average when
    # every class occurs. A class absent from the rows (no heavy rain this month) has no AUC of
    # its own rather than making the whole metric undefined.
    aucs = [
        skm.roc_auc_score(pred.y_true == c, pred.proba[:, i]) for i, c in enumerate(labels) if c in present
    ]
    return float(np.mean(aucs))


def metric_value(pred: Predictions, metric: str, task: Task) -> float:
    """One metric of `pred`; multiclass averages are macro, multiclass AUC is one-vs-rest.

    Raises UndefinedMetricError when the metric has no value on these rows.
    """
    check_metric(task, metric, "metric")
    if len(pred.y_true) == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if task.is_classification:
        return _classification_value(metric, pred)
    return _regression_value(metric, pred.y_true, pred.y_pred)


def compute_metrics(pred: Predictions, task: Task) -> tuple[dict[str, float], list[str]]:
    """Every metric the task defines on `pred`, plus notes on what was undefined or partial."""
    out: dict[str, float] = {}
    notes: list[str] = []
    for metric in task_metrics(task):
        try:
            out[metric] = metric_value(pred, metric, task)
        except UndefinedMetricError as err:
            notes.append(str(err))
    zeros = int(np.sum(pred.y_true == 0)) if not task.is_classification else 0
    if "mape" in out and zeros:
        notes.append(f"mape leaves out {zeros} row(s) with a zero target")
    return out, notes


def cv_scorer(spec: ProjectSpec, metric: str) -> Scorer:
    """An sklearn scorer for `metric` (greater is better, so lower-is-better metrics are negated)."""
    check_metric(spec.task, metric, "training.primary_metric")
    sign = 1.0 if higher_is_better(metric) else -1.0

    def score(estimator: Any, features: pd.DataFrame, target: pd.Series) -> float:
        return sign * metric_value(predict(estimator, features, target, spec), metric, spec.task)

    return score
