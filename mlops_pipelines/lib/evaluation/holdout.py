"""Holdout evaluation of a fitted pipeline: metrics, slices, fairness, importance and KPIs.

Slices and sensitive attributes are raw columns of the validated rows (a model may never see
them as features), so they come in through a `context` frame aligned by index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.evaluation.fairness import FairnessReport, fairness_report, group_labels
from mlops_pipelines.lib.features import feature_kinds
from mlops_pipelines.lib.metrics import (
    Predictions,
    check_metric,
    compute_metrics,
    cv_scorer,
    predict,
)
from mlops_pipelines.spec import Task

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

MAX_SLICE_VALUES = 20  # a numeric slice column with more distinct values is cut into quantile bins
SLICE_BINS = 5
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class SliceMetrics:
    column: str
    value: str  # the group's value as text; nulls are "<missing>", binned numbers "(a, b]"
    n: int
    metrics: dict[str, float]
    # Row positions of the slice in the evaluation's predictions: the gate bootstraps a slice's
    # comparison on exactly these rows. Not part of the JSON summary.
    positions: np.ndarray | None = field(default=None, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        return {"column": self.column, "value": self.value, "n": self.n, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    n: int
    mean_predicted: float  # mean predicted probability (top-class confidence for multiclass)
    observed_rate: float  # share of rows where that prediction came true


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean: float  # mean drop in the primary metric's score when the feature is shuffled
    std: float


@dataclass(frozen=True)
class Evaluation:
    task: Task
    primary_metric: str
    n_rows: int
    metrics: dict[str, float]
    slices: list[SliceMetrics]
    fairness: FairnessReport | None
    importance: list[FeatureImportance]
    confusion_matrix: list[list[int]] | None  # rows: true class, columns: predicted, `classes` order
    calibration: list[CalibrationBin] | None
    notes: list[str]  # metrics left out and why
    predictions: Predictions = field(repr=False, compare=False)

    def slice(self, column: str, value: str) -> SliceMetrics | None:
        return next((s for s in self.slices if s.column == column and s.value == value), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary without the per-row predictions."""
        return {
            "task": self.task.value,
            "primary_metric": self.primary_metric,
            "n_rows": self.n_rows,
            "classes": list(self.predictions.classes),
            "metrics": dict(self.metrics),
            "slices": [s.summary() for s in self.slices],
            "fairness": None if self.fairness is None else asdict(self.fairness),
            "importance": [asdict(i) for i in self.importance],
            "confusion_matrix": self.confusion_matrix,
            "calibration": None if self.calibration is None else [asdict(b) for b in self.calibration],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class KpiResult:
    metric: str
    value: float | None  # None when the metric is undefined on the holdout (see Evaluation.notes)
    floor: float | None
    ceiling: float | None
    passed: bool


def primary_score(evaluation: Evaluation, metric: str) -> float:
    if metric not in evaluation.metrics:
        raise ValueError(
            f"metric '{metric}' is not in the evaluation: {'; '.join(evaluation.notes) or 'unknown'}"
        )
    return evaluation.metrics[metric]


def check_kpis(evaluation: Evaluation, spec: ProjectSpec) -> list[KpiResult]:
    """Each spec KPI against the evaluation; a metric undefined on the holdout fails its KPI."""
    results = []
    for position, kpi in enumerate(spec.kpis):
        check_metric(spec.task, kpi.metric, f"kpis[{position}] ('{kpi.metric}')")
        value = evaluation.metrics.get(kpi.metric)
        if value is None:
            passed = False
        elif kpi.floor is not None:
            passed = value >= kpi.floor
        else:
            assert kpi.ceiling is not None
            passed = value <= kpi.ceiling
        results.append(KpiResult(kpi.metric, value, kpi.floor, kpi.ceiling, passed))
    return results


def confusion(pred: Predictions) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(pred.y_true, pred.y_pred, labels=list(pred.classes))
    return [[int(v) for v in row] for row in matrix]


def calibration_bins(pred: Predictions, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Reliability table over equal-width probability bins; empty bins are left out."""
    assert pred.proba is not None
    if pred.positive is not None:
        confidence = pred.positive_scores
        hit = pred.y_true == pred.positive
    else:
        confidence = pred.proba.max(axis=1)
        hit = pred.y_true == pred.y_pred
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                CalibrationBin(
                    round(float(edges[b]), 6),
                    round(float(edges[b + 1]), 6),
                    int(mask.sum()),
                    float(confidence[mask].mean()),
                    float(hit[mask].mean()),
                )
            )
    return out


def slice_groups(values: pd.Series) -> np.ndarray:
    """Group names for one slice column; many-valued numbers are cut into quantile bins."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_SLICE_VALUES:
        binned = pd.qcut(values.astype("float64"), SLICE_BINS, duplicates="drop")
        return group_labels(binned.astype("object"))
    return group_labels(values)


def slice_metrics(
    pred: Predictions, context: pd.DataFrame, columns: list[str], task: Task
) -> list[SliceMetrics]:
    rows = context.loc[pred.index]
    out = []
    for column in columns:
        groups = slice_groups(rows[column])
        for value in sorted(set(groups)):
            mask = groups == value
            metrics, _ = compute_metrics(pred.subset(mask), task)
            out.append(SliceMetrics(column, str(value), int(mask.sum()), metrics, np.flatnonzero(mask)))
    return out


def permutation_importance_of(
    pipeline: Any, features: pd.DataFrame, target: pd.Series, spec: ProjectSpec, rows: int, repeats: int
) -> list[FeatureImportance]:
    """Permutation importance on at most `rows` seeded-sampled rows, most important first."""
    from sklearn.inspection import permutation_importance

    seed = spec.training.seed
    if len(features) > rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(features), size=rows, replace=False))
        features, target = features.iloc[keep], target.iloc[keep]
    result = permutation_importance(
        pipeline,
        features,
        target,
        scoring=cv_scorer(spec, spec.training.primary_metric),
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    items = [
        FeatureImportance(str(name), float(mean), float(std))
        for name, mean, std in zip(
            features.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(items, key=lambda item: (-item.mean, item.feature))


def evaluate_model(
    pipeline: Any,
    features: pd.DataFrame,
    target: pd.Series,
    spec: ProjectSpec,
    context: pd.DataFrame | None = None,
    *,
    importance_rows: int = 2000,
    importance_repeats: int = 3,
    threads: int = 1,
) -> Evaluation:
    """Evaluate a fitted pipeline on labelled holdout rows.

    `context` holds the raw slice and sensitive-attribute columns, indexed like `features`;
    it may be omitted only when the spec declares neither. `importance_rows=0` skips the
    permutation importance (the slowest part). `threads` caps OpenMP/BLAS threads (see
    training.train_model).
    """
    from threadpoolctl import threadpool_limits

    if len(features) == 0:
        raise ValueError("cannot evaluate on an empty holdout")
    if not features.index.is_unique:
        raise ValueError("holdout index has duplicate labels: slices could not be aligned")
    check_metric(spec.task, spec.training.primary_metric, "training.primary_metric")
    columns = list(feature_kinds(spec))
    absent_features = [c for c in columns if c not in features.columns]
    if absent_features:
        raise ValueError(f"feature column(s) {absent_features} missing from the holdout frame")
    features = features[columns]
    wanted = list(dict.fromkeys([*spec.sensitive_attributes, *spec.slices]))
    if wanted:
        if context is None:
            raise ValueError(f"a context frame with column(s) {wanted} is needed for slices and fairness")
        missing = [c for c in wanted if c not in context.columns]
        if missing:
            raise ValueError(f"slice/sensitive column(s) {missing} missing from the context frame")
        absent = features.index.difference(context.index)
        if len(absent):
            raise ValueError(f"context frame lacks {len(absent)} holdout row(s), e.g. index {absent[0]!r}")
    with threadpool_limits(limits=threads):
        pred = predict(pipeline, features, target, spec)
    metrics, notes = compute_metrics(pred, spec.task)
    classify = spec.task.is_classification
    fairness = None
    if spec.task is Task.BINARY and spec.sensitive_attributes:
        assert context is not None
        fairness = fairness_report(pred, context, spec.sensitive_attributes)
    importance = []
    if importance_rows > 0:
        with threadpool_limits(limits=threads):
            importance = permutation_importance_of(
                pipeline, features, target, spec, importance_rows, importance_repeats
            )
    return Evaluation(
        task=spec.task,
        primary_metric=spec.training.primary_metric,
        n_rows=len(features),
        metrics=metrics,
        slices=slice_metrics(pred, context, wanted, spec.task) if context is not None else [],
        fairness=fairness,
        importance=importance,
        confusion_matrix=confusion(pred) if classify else None,
        calibration=calibration_bins(pred) if classify else None,
        notes=notes,
        predictions=pred,
    )
