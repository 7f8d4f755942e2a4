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


def predict(pipeline: Any, features: pd.DataFrame, target: pd.Series, spec: ProjectSpec) -> Predictions:
    """Score `features` with a fitted pipeline and pair the output with the true labels."""
    if not features.index.equals(target.index):
        raise ValueError("features and target are not aligned: their indexes differ")
    y_pred = np.asarray(pipeline.predict(features))
    if not spec.task.is_classification:
        return Predictions(features.index, target.to_numpy(dtype="float64"), y_pred.astype("float64"), None)
    classes = tuple(str(c) for c in pipeline.classes_)
    y_true = target.astype("str").to_numpy(dtype=object)
    unseen = sorted(set(y_true) - set(classes))
    if unseen:
        raise ValueError(f"target '{spec.target}' has label(s) {unseen} the model never saw: {list(classes)}")
    proba = np.asarray(pipeline.predict_proba(features), dtype="float64")
    positive = positive_label(classes, spec.classes) if spec.task is Task.BINARY else None
    return Predictions(features.index, y_true, y_pred.astype(object), proba, classes, positive)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """rmse, mae, r2 and a safe mape; returns the metrics and notes on what was left out."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    notes: list[str] = []
    out = {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }
    # sklearn's MAPE divides by machine epsilon on zero targets (values around 1e15): count
    # data has real zeros, so those rows are left out of mape and the exclusion is reported.
    nonzero = y_true != 0
    if nonzero.any():
        out["mape"] = float(np.mean(np.abs(y_true[nonzero] - y_pred[nonzero]) / np.abs(y_true[nonzero])))
    if not nonzero.all():
        notes.append(f"mape leaves out {int((~nonzero).sum())} row(s) with a zero target")
    if len(y_true) >= 2 and np.ptp(y_true) > 0:
        out["r2"] = float(r2_score(y_true, y_pred))
    else:
        notes.append("r2 is undefined: the target is constant on these rows")
    return out, notes


def classification_metrics(pred: Predictions) -> tuple[dict[str, float], list[str]]:
    """Label and probability metrics; multiclass averages are macro, AUC is one-vs-rest."""
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    assert pred.proba is not None
    notes: list[str] = []
    labels = list(pred.classes)
    binary = pred.positive is not None
    averaging: dict[str, Any] = {"average": "binary", "pos_label": pred.positive} if binary else {}
    if not binary:
        averaging = {"average": "macro", "labels": labels}
    precision, recall, f1, _ = precision_recall_fscore_support(
        pred.y_true, pred.y_pred, zero_division=0.0, **averaging
    )
    out = {
        "accuracy": float(accuracy_score(pred.y_true, pred.y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "log_loss": float(log_loss(pred.y_true, pred.proba, labels=labels)),
    }
    present = set(pred.y_true)
    if binary:
        out["brier"] = float(brier_score_loss(pred.y_true == pred.positive, pred.positive_scores))
    else:
        onehot = (pred.y_true[:, None] == np.asarray(labels, dtype=object)[None, :]).astype("float64")
        out["brier"] = float(np.mean(np.sum((pred.proba - onehot) ** 2, axis=1)))
    if len(present) < 2:
        notes.append(f"roc_auc is undefined: only class(es) {sorted(present)} occur in these rows")
    elif binary:
        out["roc_auc"] = float(roc_auc_score(pred.y_true == pred.positive, pred.positive_scores))
    elif present == set(labels):
        out["roc_auc"] = float(roc_auc_score(pred.y_true, pred.proba, multi_class="ovr", labels=labels))
    else:
        notes.append("roc_auc is undefined: not every class occurs in these rows")
    return out, notes


def compute_metrics(pred: Predictions, task: Task) -> tuple[dict[str, float], list[str]]:
    """Every metric the task defines on `pred`; metrics undefined on these rows are left out."""
    if len(pred.y_true) == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if task.is_classification:
        return classification_metrics(pred)
    return regression_metrics(pred.y_true, pred.y_pred)


def cv_scorer(spec: ProjectSpec, metric: str) -> Scorer:
    """An sklearn scorer for `metric` (greater is better, so lower-is-better metrics are negated)."""
    check_metric(spec.task, metric, "training.primary_metric")
    sign = 1.0 if higher_is_better(metric) else -1.0

    def score(estimator: Any, features: pd.DataFrame, target: pd.Series) -> float:
        metrics, notes = compute_metrics(predict(estimator, features, target, spec), spec.task)
        if metric not in metrics:
            raise ValueError(f"cannot score '{metric}' on a validation fold: {'; '.join(notes)}")
        return sign * metrics[metric]

    return score
