"""CBPE: a classifier's expected metric on unlabelled rows, from its calibrated scores alone.

Each row's calibrated probability says how likely each label is, so every cell of the confusion
matrix at the model's own decision rule (the argmax of its raw scores, what `predict` returns)
has an expected count: a row predicted positive with calibrated probability 0.8 adds 0.8 to the
true positives and 0.2 to the false positives. Accuracy, precision, recall and F1 follow from the
expected matrix; ROC-AUC from the expected TPR and FPR at every threshold of the raw score (the
model's ranking); log-loss and Brier score are plain expectations. Multiclass metrics are macro
averages of the one-vs-rest ones, as `lib.metrics` computes them.

Calibration is isotonic, one map per class (one-vs-rest), fitted on the reference and stored as
its breakpoints (a few hundred floats), so applying it needs no sklearn. A class with too few
reference rows on either side keeps its raw scores, and the estimator says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.metrics import UndefinedMetricError, metric_value
from mlops_pipelines.lib.monitoring.estimation_records import EstimationError, FittedModel, check_finite
from mlops_pipelines.spec import Task

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.monitoring.estimation_records import ReferencePredictions

# An isotonic map fitted on fewer rows of a class (or of its complement) than this follows the
# noise of a handful of labels; the raw scores are the better guess then.
MIN_CALIBRATION_ROWS = 30
# ROC-AUC needs both classes: below one expected row of either it is no more defined than on
# a labelled window holding a single class.
MIN_EXPECTED_ROWS = 1.0
_SCORE_TOLERANCE = 1e-6
_LOG_EPS = float(np.finfo("float64").eps)  # sklearn's log_loss clips probabilities the same way


@dataclass(frozen=True)
class IsotonicMap:
    """A fitted isotonic regression as its breakpoints (linear in between, flat outside)."""

    x: np.ndarray
    y: np.ndarray

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self.x, self.y)


@dataclass(frozen=True)
class CbpeModel:
    task: Task
    metric: str
    classes: tuple[str, ...]
    positive_index: int | None  # binary: the positive class's column
    calibrators: tuple[IsotonicMap | None, ...]  # per class; None keeps the raw scores

    def estimate(self, features: pd.DataFrame, scores: np.ndarray) -> tuple[float | None, str | None]:
        raw = raw_matrix(scores, self.classes, self.positive_index, "monitored scores")
        return expected_metric(self.metric, calibrate(raw, self.calibrators), raw, self.positive_index)

    def auc_noise(self, value: float, scores: np.ndarray) -> float:
        """The standard error of a ROC-AUC of `value` on a window expected to hold the classes its
        calibrated probabilities sum to (the rarest class's, when one-vs-rest is averaged)."""
        calibrated = self.calibrated(scores)
        columns = [self.positive_index] if self.positive_index is not None else range(len(self.classes))
        counts = [(float(calibrated[:, c].sum()), float((1 - calibrated[:, c]).sum())) for c in columns]
        return max(auc_standard_error(value, positives, negatives) for positives, negatives in counts)

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated (rows, classes) probabilities of the model's scores, in `classes` order."""
        return calibrate(
            raw_matrix(scores, self.classes, self.positive_index, "monitored scores"), self.calibrators
        )


def raw_matrix(scores: np.ndarray, classes: tuple[str, ...], positive: int | None, name: str) -> np.ndarray:
    """The model's (rows, classes) probabilities; binary scores are the positive column."""
    scores = np.asarray(scores, dtype="float64")
    check_finite(name, scores)
    if positive is not None:
        if scores.ndim != 1:
            raise EstimationError(f"{name}: binary scores must be one positive-class probability per row")
        matrix = np.empty((len(scores), 2))
        matrix[:, positive], matrix[:, 1 - positive] = scores, 1.0 - scores
    elif scores.ndim != 2 or scores.shape[1] != len(classes):
        raise EstimationError(f"{name}: shape {scores.shape} does not match {len(classes)} classes {classes}")
    else:
        matrix = scores
    if matrix.size and (matrix.min() < -_SCORE_TOLERANCE or matrix.max() > 1 + _SCORE_TOLERANCE):
        raise EstimationError(
            f"{name} are not probabilities: they range {matrix.min():.4g}..{matrix.max():.4g}"
        )
    return matrix


def calibrate(raw: np.ndarray, calibrators: tuple[IsotonicMap | None, ...]) -> np.ndarray:
    if len(calibrators) == 1:  # binary: one map on the positive column, its complement for the other
        return raw if calibrators[0] is None else _binary(raw, calibrators[0])
    columns = [raw[:, c] if cal is None else cal(raw[:, c]) for c, cal in enumerate(calibrators)]
    calibrated = np.column_stack(columns)
    # One-vs-rest maps do not sum to one; renormalise, keeping the raw row where every map says 0.
    total = calibrated.sum(axis=1, keepdims=True)
    return np.where(total > 0, calibrated / np.where(total > 0, total, 1.0), raw)


def _binary(raw: np.ndarray, calibrator: IsotonicMap) -> np.ndarray:
    # Column 1 holds P(classes[1]) whichever class is positive: calibrate it, derive column 0.
    p1 = calibrator(raw[:, 1])
    return np.column_stack([1.0 - p1, p1])


def fit_cbpe(task: Task, metric: str, reference: ReferencePredictions) -> FittedModel:
    classes = tuple(str(c) for c in reference.classes)
    positive = _positive_index(task, classes, reference.positive)
    if reference.scores is None:
        raise EstimationError("classification reference needs the model's scores (probabilities)")
    raw = raw_matrix(reference.scores, classes, positive, "reference scores")
    if len(raw) != len(reference):
        raise EstimationError(f"reference has {len(raw)} score rows for {len(reference)} labels")
    y_true = np.asarray(reference.y_true).astype(str).astype(object)
    unknown = sorted(set(y_true) - set(classes))
    if unknown:
        raise EstimationError(f"reference labels {unknown} are not among the model's classes {list(classes)}")
    counts = {c: int(np.sum(y_true == c)) for c in classes}
    if sum(1 for n in counts.values() if n) < 2:
        raise EstimationError(f"reference has a single class: label counts {counts}; CBPE needs two or more")
    notes: list[str] = []
    # Binary calibrates column 1 only; multiclass every column, one-vs-rest.
    columns = [1] if positive is not None else list(range(len(classes)))
    calibrators = tuple(_fit_column(raw[:, c], y_true == classes[c], classes[c], notes) for c in columns)
    calibrated = calibrate(raw, calibrators)
    estimate, _ = expected_metric(metric, calibrated, raw, positive)
    model = CbpeModel(task, metric, classes, positive, calibrators)
    return FittedModel(model, _realized(task, metric, y_true, raw, classes, positive), estimate, tuple(notes))


def _positive_index(task: Task, classes: tuple[str, ...], positive: str | None) -> int | None:
    if task is not Task.BINARY:
        if len(classes) < 2:
            raise EstimationError(f"multiclass reference needs its class labels, got {list(classes)}")
        return None
    if len(classes) != 2 or positive not in classes:
        raise EstimationError(
            f"binary reference needs two classes and its positive one: got classes {list(classes)}, "
            f"positive {positive!r}"
        )
    return classes.index(positive)


def _fit_column(scores: np.ndarray, is_class: np.ndarray, label: str, notes: list[str]) -> IsotonicMap | None:
    from sklearn.isotonic import IsotonicRegression

    inside, outside = int(is_class.sum()), int((~is_class).sum())
    if min(inside, outside) < MIN_CALIBRATION_ROWS:
        notes.append(
            f"class '{label}': {inside} row(s) of it and {outside} of the rest in the reference, fewer "
            f"than {MIN_CALIBRATION_ROWS} on one side: its raw scores are used uncalibrated"
        )
        return None
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, is_class)
    return IsotonicMap(np.asarray(fitted.X_thresholds_), np.asarray(fitted.y_thresholds_))


def _realized(
    task: Task,
    metric: str,
    y_true: np.ndarray,
    raw: np.ndarray,
    classes: tuple[str, ...],
    positive: int | None,
) -> float | None:
    import pandas as pd

    from mlops_pipelines.lib.metrics import Predictions

    y_pred = np.asarray(classes, dtype=object)[raw.argmax(axis=1)]
    label = None if positive is None else classes[positive]
    pred = Predictions(pd.RangeIndex(len(y_true)), y_true, y_pred, raw, classes, label)
    try:
        return metric_value(pred, metric, task)
    except UndefinedMetricError:
        return None  # e.g. ROC-AUC of a multiclass reference missing a class: there is no level


def expected_metric(
    metric: str, calibrated: np.ndarray, raw: np.ndarray, positive: int | None
) -> tuple[float | None, str | None]:
    """The metric's expected value when each row's label follows its calibrated probabilities."""
    n_rows, n_classes = raw.shape
    predicted = raw.argmax(axis=1)  # the model's decision rule, on its raw scores
    columns = [positive] if positive is not None else list(range(n_classes))
    if metric == "accuracy":
        return float(np.mean(calibrated[np.arange(n_rows), predicted])), None
    if metric in ("precision", "recall", "f1"):
        parts = [_confusion_metric(metric, calibrated[:, c], predicted == c) for c in columns]
        reasons = [r for _, r in parts if r]
        return float(np.mean([v for v, _ in parts])), "; ".join(reasons) or None
    if metric == "roc_auc":
        aucs = [expected_auc(raw[:, c], calibrated[:, c]) for c in columns]
        if any(a is None for a in aucs):
            return None, (
                f"no estimate: roc_auc needs both sides of each class, and the window is expected to "
                f"hold fewer than {MIN_EXPECTED_ROWS:g} row(s) of one"
            )
        return float(np.mean([a for a in aucs if a is not None])), None
    if metric == "log_loss":
        clipped = np.clip(raw, _LOG_EPS, 1 - _LOG_EPS)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        return float(np.mean(-np.sum(calibrated * np.log(clipped), axis=1))), None
    if metric == "brier":
        # E[(q - y)^2] = q^2 - 2qp + p for a 0/1 label y with P(y = 1) = p.
        cols = raw[:, columns], calibrated[:, columns]
        return float(np.mean(np.sum(cols[0] ** 2 - 2 * cols[0] * cols[1] + cols[1], axis=1))), None
    raise EstimationError(f"CBPE does not estimate metric '{metric}'")


def _confusion_metric(metric: str, p: np.ndarray, predicted: np.ndarray) -> tuple[float, str | None]:
    tp, fp, fn = float(p[predicted].sum()), float((1 - p[predicted]).sum()), float(p[~predicted].sum())
    numerator, denominator = {
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "f1": (2 * tp, 2 * tp + fp + fn),
    }[metric]
    if denominator <= 0:
        # sklearn's zero_division=0.0, as lib.metrics scores the realized value.
        return 0.0, f"{metric} has no denominator in the window (no predicted or expected rows): counted 0"
    return numerator / denominator, None


def expected_auc(raw: np.ndarray, calibrated: np.ndarray) -> float | None:
    """ROC-AUC with soft labels: expected TPR against expected FPR at every raw-score threshold."""
    positives, negatives = float(calibrated.sum()), float((1 - calibrated).sum())
    if min(positives, negatives) < MIN_EXPECTED_ROWS:
        return None
    order = np.argsort(-raw, kind="mergesort")
    ranked, p = raw[order], calibrated[order]
    # Tied scores form one threshold, as in sklearn's roc_curve.
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tpr = np.r_[0.0, np.cumsum(p)[ends] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - p)[ends] / negatives]
    return float(np.trapezoid(tpr, fpr))


def auc_standard_error(auc: float, positives: float, negatives: float) -> float:
    """Hanley & McNeil (1982): a ROC-AUC's standard error from its value and the rows of each
    class. It is set by the rarer class: a night window of 420 rows expected to hold 3 occupied
    ones has an AUC as loose as a window of 3 rows, however many rows it holds."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(max(variance, 0.0) / (positives * negatives))
