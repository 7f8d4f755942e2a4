"""Label-free performance estimation: what the champion's metric probably is on unlabelled rows.

Labels arrive late (or never), so the loop cannot wait for them to see a model getting worse.
Two methods, fitted once on the champion's OUT-OF-SAMPLE predictions on labelled rows (its
evaluation rows) and applied to each monitored window:
- classifiers, CBPE (confidence-based, as NannyML's): the scores are calibrated on the reference
  (isotonic), and the window's metric is its EXPECTED value given those calibrated probabilities
  (`estimation_cbpe`);
- regression, DLE (direct loss estimation, as NannyML's): a small "nanny" model learns each
  row's loss from the features and the prediction; the window's metric is the mean predicted
  loss (`estimation_dle`).

Both assume P(label | features) is the one thing that does not change: they see covariate shift
(the rows move to where the model is worse or better) but are blind to concept shift (the same
rows get other labels). Realized performance, once labels arrive, covers that blind spot.
Fitting costs a few isotonic fits (CBPE, milliseconds) or three small gradient-boosting fits
(DLE, under a second on 1k reference rows); the fitted estimator pickles to a few kB (CBPE) or
about 300 kB (DLE). The records both methods share live in `estimation_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from mlops_pipelines.lib.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlops_pipelines.lib.monitoring.estimation_cbpe import CbpeModel, fit_cbpe
from mlops_pipelines.lib.monitoring.estimation_dle import fit_dle
from mlops_pipelines.lib.monitoring.estimation_records import (
    MIN_REFERENCE_ROWS,
    Estimate,
    EstimationError,
    ReferencePredictions,
    WindowModel,
)
from mlops_pipelines.spec import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MIN_REFERENCE_ROWS",
    "Estimate",
    "EstimationError",
    "PerformanceEstimator",
    "ReferencePredictions",
    "fit_estimator",
]

EstimationMethod = Literal["cbpe", "dle"]


@dataclass(frozen=True)
class PerformanceEstimator:
    """A fitted estimator for one metric of one model; picklable, kept beside the champion."""

    task: Task
    metric: str
    method: EstimationMethod
    feature_columns: tuple[str, ...]
    n_reference: int
    reference_value: float | None  # the realized metric on the reference rows
    reference_estimate: float | None  # the estimator's own estimate there (cross-fitted for DLE)
    notes: tuple[str, ...]  # caveats found while fitting (e.g. raw scores used uncalibrated)
    model: WindowModel = field(repr=False)  # estimation_cbpe.CbpeModel or estimation_dle.DleModel

    def estimate(self, features: pd.DataFrame, scores_or_values: np.ndarray) -> Estimate:
        """The estimated metric on a monitored window (features and the model's output on it)."""
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise EstimationError(
                f"monitored features lack column(s) {missing} the estimator was fitted on "
                f"({len(self.feature_columns)} columns expected)"
            )
        outputs = np.asarray(scores_or_values, dtype="float64")
        if len(outputs) != len(features):
            raise EstimationError(
                f"{len(outputs)} model output row(s) for {len(features)} feature row(s): they must align"
            )
        if len(features) == 0:
            return Estimate(self.metric, None, 0, "no estimate: the window has no rows")
        value, reason = self.model.estimate(features[list(self.feature_columns)], outputs)
        if value is not None and not np.isfinite(value):
            raise EstimationError(f"estimated {self.metric} is not finite ({value}): {reason}")
        caveats = dict.fromkeys(r for r in (reason, *self.notes) if r)  # ordered, without repeats
        noise = None
        if value is not None and self.metric == "roc_auc" and isinstance(self.model, CbpeModel):
            noise = self.model.auc_noise(value, outputs)
        return Estimate(self.metric, value, len(features), "; ".join(caveats) or None, noise)

    @property
    def classes(self) -> tuple[str, ...] | None:
        """The classes a classifier's estimator reads probabilities of, in column order."""
        return self.model.classes if isinstance(self.model, CbpeModel) else None

    def calibrated(self, scores: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """A classifier's probabilities on a window as calibrated on the reference, with their
        classes. None for a regression estimator (it has no probabilities) and for one that kept
        a class's raw scores (too few reference rows to calibrate): a boosted model's raw scores
        are overconfident, so what they expect is no fair bar."""
        if not isinstance(self.model, CbpeModel) or any(c is None for c in self.model.calibrators):
            return None
        return self.model.calibrated(np.asarray(scores, dtype="float64")), self.model.classes


def fit_estimator(
    task: Task, metric: str, reference: ReferencePredictions, *, seed: int
) -> PerformanceEstimator:
    """Fit CBPE (classification) or DLE (regression) for `metric` on the reference predictions.

    Raises EstimationError when the reference is too small, has a single class, or its parts
    do not align; a metric that cannot be estimated (r2) gives an estimator whose estimates
    are None with the reason.
    """
    known = CLASSIFICATION_METRICS if task.is_classification else REGRESSION_METRICS
    if metric not in known:
        raise EstimationError(f"metric '{metric}' is not defined for a {task.value} task; use one of {known}")
    n_rows = len(reference)
    if n_rows < MIN_REFERENCE_ROWS:
        raise EstimationError(
            f"reference too small: {n_rows} row(s), at least {MIN_REFERENCE_ROWS} needed to fit an estimator"
        )
    if len(reference.features) != n_rows:
        raise EstimationError(f"reference has {len(reference.features)} feature rows for {n_rows} labels")
    columns = tuple(str(c) for c in reference.features.columns)
    classify = task.is_classification
    fitted = fit_cbpe(task, metric, reference) if classify else fit_dle(metric, reference, seed=seed)
    return PerformanceEstimator(
        task=task,
        metric=metric,
        method="cbpe" if classify else "dle",
        feature_columns=columns,
        n_reference=n_rows,
        reference_value=fitted.reference_value,
        reference_estimate=fitted.reference_estimate,
        notes=fitted.notes,
        model=fitted.model,
    )
