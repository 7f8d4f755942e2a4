"""The records of label-free performance estimation (`estimation`), shared by both methods.

Kept apart from `estimation` so the method modules (`estimation_cbpe`, `estimation_dle`) and the
entry point can all import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.metrics import Predictions

# Below this many reference rows neither the isotonic calibration nor the nanny model is worth
# trusting: the estimate's error would be of the order of the changes it is meant to detect.
MIN_REFERENCE_ROWS = 200


class EstimationError(ValueError):
    """The estimator cannot be fitted or applied to these inputs; the message names why."""


@dataclass(frozen=True)
class ReferencePredictions:
    """A model's OUT-OF-SAMPLE output on labelled rows (never its training rows: in-sample
    scores are overconfident, and the estimator would learn that overconfidence).

    `scores`: binary, the positive-class probability per row; multiclass, a (rows, classes)
    probability matrix in `classes` order. `values`: regression, the predicted value per row.
    """

    features: pd.DataFrame
    y_true: np.ndarray  # str labels (classification) or float64 (regression)
    scores: np.ndarray | None = None
    values: np.ndarray | None = None
    classes: tuple[str, ...] = ()  # classification: the model's classes in its output order
    positive: str | None = None  # binary only

    def __len__(self) -> int:
        return len(self.y_true)

    @classmethod
    def from_predictions(cls, features: pd.DataFrame, pred: Predictions) -> ReferencePredictions:
        """From evaluation's `metrics.Predictions` on the same rows (e.g. the holdout)."""
        if pred.proba is None:
            return cls(features, pred.y_true, values=pred.y_pred)
        scores = pred.positive_scores if pred.positive is not None else pred.proba
        return cls(features, pred.y_true, scores=scores, classes=pred.classes, positive=pred.positive)


@dataclass(frozen=True)
class Estimate:
    metric: str
    value: float | None  # None: not estimable here (see `reason`)
    n_rows: int
    reason: str | None  # why there is no value, or a caveat on the value; None: a plain estimate
    # The estimate's own standard error where the window's make-up sets it (ROC-AUC: the expected
    # rows of each class); None: the evaluated level's noise scaled by rows is all there is.
    noise: float | None = None


class WindowModel(Protocol):
    """A fitted method: the metric's estimate on one window, and why it has none (or a caveat)."""

    def estimate(self, features: pd.DataFrame, outputs: np.ndarray) -> tuple[float | None, str | None]: ...


@dataclass(frozen=True)
class FittedModel:
    """What a method's fit hands back to `fit_estimator`."""

    model: WindowModel
    reference_value: float | None
    reference_estimate: float | None
    notes: tuple[str, ...]


def check_finite(name: str, values: np.ndarray) -> None:
    """Raise naming `name` and the count when `values` hold NaN or infinity."""
    bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise EstimationError(f"{name} hold {bad} missing or infinite value(s)")
