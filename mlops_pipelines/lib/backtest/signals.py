"""The monitoring signals of one replayed partition, computed as the loop computes them.

A replayed champion carries what the loop's `ChampionRef` carries: the reference window of its
training data (with drift thresholds calibrated on it), the level it reached on its own
out-of-sample evaluation (and that level's noise), and a label-free performance estimator
fitted on those evaluation predictions. Each partition then gets the same three signals the
drift and performance assets write: calibrated drift of the current window, the estimated
metric against the evaluated level, and, once labels arrive, the realized metric against the
estimate for the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.backtest.scoring import concat
from mlops_pipelines.lib.metrics import UndefinedMetricError, metric_value
from mlops_pipelines.lib.monitoring.policy import MonitoringObservation
from mlops_pipelines.lib.monitoring.signals import (
    estimate_noise,
    estimated_check,
    metric_noise,
    realized_check,
)
from mlops_pipelines.lib.monitoring.stage_expectation import labelled_outputs
from mlops_pipelines.lib.monitoring.windows import evidence_window

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.lib.metrics import Predictions


@dataclass(frozen=True)
class ReplayChampion:
    label: str  # "1", "2", ...: the version the loop would have registered
    model_at: int  # as-of index of its fit in the model bank
    first_served: int  # the first partition it scores
    reference: tuple[int, int]  # first and last partition of its drift reference
    calibration: Any  # DriftCalibration, or None without a reference
    evaluated: float | None  # its out-of-sample level of the primary metric
    evaluated_rows: int
    evaluated_noise: float | None
    estimator: Any  # PerformanceEstimator, or None when none could be fitted


def champion_of(
    bank: ModelBank, label: str, model_at: int, evaluation: tuple[list[int], Predictions] | None
) -> ReplayChampion:
    """A champion fitted as of `model_at`, judged on `evaluation` (partitions and out-of-sample
    predictions of its recipe there), with its reference, calibration and estimator."""
    from mlops_pipelines.lib.backtest.models import fit_window
    from mlops_pipelines.lib.monitoring.calibration import calibrate_drift
    from mlops_pipelines.lib.monitoring.estimation import EstimationError, ReferencePredictions, fit_estimator
    from mlops_pipelines.lib.monitoring.stage_drift import drift_kinds

    history, spec = bank.history, bank.history.spec
    window = fit_window(history, model_at)
    assert window is not None  # a champion is only made from a fittable as-of
    last = window.last
    cap = spec.drift.reference_partitions
    first = window.first if cap is None else max(window.first, last - cap + 1)
    kinds = drift_kinds(spec)
    rows = history.rows(first, last)
    calibration = calibrate_drift(rows, kinds, spec.drift, spec.drift.current_window_partitions)
    metric = spec.training.primary_metric
    evaluated = noise = estimator = None
    n_rows = 0
    if evaluation is not None:
        partitions, pred = evaluation
        n_rows = len(pred.y_true)
        try:
            evaluated = metric_value(pred, metric, spec.task)
            noise = metric_noise(pred, metric, spec.training.seed)
        except UndefinedMetricError:
            evaluated = None
        features = history.features(partitions[0], partitions[-1])
        try:
            reference = ReferencePredictions.from_predictions(features, pred)
            estimator = fit_estimator(spec.task, metric, reference, seed=spec.training.seed)
        except EstimationError:
            estimator = None  # too few rows or one class: the loop then has no estimate either
    return ReplayChampion(
        label, model_at, model_at + 1, (first, last), calibration, evaluated, n_rows, noise, estimator
    )


def drift_observation(
    bank: ModelBank, champion: ReplayChampion, partition: int
) -> tuple[str, float | None, bool | None, float | None]:
    """(status, drift share, estimated degraded, row growth) of the window ending at `partition`;
    row growth: its rows per partition against the champion's reference's, as the loop's drift
    stage reports it (lib/monitoring/stage_drift.row_growth)."""
    from mlops_pipelines.lib.monitoring.drift import compute_drift
    from mlops_pipelines.lib.monitoring.stage_drift import drift_kinds, row_growth

    history, spec = bank.history, bank.history.spec
    kinds = drift_kinds(spec)
    first = max(0, partition - spec.drift.current_window_partitions + 1)
    reference = history.rows(*champion.reference)[list(kinds)]
    current = history.rows(first, partition)[list(kinds)]
    result = compute_drift(reference, current, kinds, spec.drift, workers=1, calibration=champion.calibration)
    share = result.drift_share if result.has_verdict else None
    ref_first, ref_last = champion.reference
    growth = row_growth(len(current), partition - first + 1, len(reference), ref_last - ref_first + 1)
    estimated = None
    if champion.estimator is not None:
        # The estimate spans the performance window (within what this champion scored).
        first = max(champion.first_served, partition - spec.retraining.performance_window_partitions + 1)
        pred = concat([bank.predict(champion.model_at, p) for p in range(first, partition + 1)])
        estimate = champion.estimator.estimate(
            history.features(first, partition), labelled_outputs(pred, champion.estimator.classes)
        )
        rows = len(pred.y_true)
        noise = estimate_noise(champion.evaluated_noise, champion.evaluated_rows, rows, estimate.noise)
        rules = spec.retraining
        check = estimated_check(
            estimate.value,
            rows,
            spec.training.primary_metric,
            evaluated=champion.evaluated,
            noise=noise,
            margin=rules.performance_margin,
            z=rules.performance_z,
            min_rows=rules.performance_min_rows,
        )
        estimated = check.degraded
    return result.status, share, estimated, growth


def realized_observation(
    bank: ModelBank, champion: ReplayChampion, partition: int
) -> tuple[bool | None, bool]:
    """(realized degraded, unexplained KPI breach) of the labelled window ending at `partition`,
    over the partitions this champion scored."""
    history, spec = bank.history, bank.history.spec
    first = max(champion.first_served, partition - spec.retraining.performance_window_partitions + 1)
    if first > partition:
        return None, False
    if spec.task.is_classification:
        # As the loop's window (lib/monitoring/windows.evidence_window): back until the rarer
        # class has rows enough, within what this champion scored and a training window.
        earliest = max(champion.first_served, partition - spec.training.window_partitions + 1)
        window = range(first, partition + 1)
        need = spec.retraining.performance_min_rows
        first = evidence_window(window, range(earliest, first), history.class_counts, need)[0]
    pred = concat([bank.predict(champion.model_at, p) for p in range(first, partition + 1)])
    metric, rules = spec.training.primary_metric, spec.retraining
    expected, calibrated = None, None
    if champion.estimator is not None:
        scores = labelled_outputs(pred, champion.estimator.classes)
        expected = champion.estimator.estimate(history.features(first, partition), scores).value
        calibrated = champion.estimator.calibrated(scores)
    check = realized_check(
        pred,
        spec.task,
        metric,
        expected=expected,
        evaluated=champion.evaluated,
        margin=rules.performance_margin,
        z=rules.performance_z,
        min_rows=rules.performance_min_rows,
        seed=spec.training.seed,
        calibrated=calibrated,
    )
    if len(pred.y_true) < rules.performance_min_rows:
        return check.degraded, False
    # A breach the estimate for the same rows shares is explained by the rows, not the model.
    explained = {metric} if expected is not None and _breached(spec, {metric: expected}) else set()
    return check.degraded, bool(_breached(spec, _metrics(pred, spec)) - explained)


def _metrics(pred: Predictions, spec: Any) -> dict[str, float]:
    from mlops_pipelines.lib.metrics import compute_metrics

    return compute_metrics(pred, spec.task)[0]


def _breached(spec: Any, values: dict[str, float]) -> set[str]:
    """The KPIs of the spec that these metric values break."""
    out = set()
    for kpi in spec.kpis:
        value = values.get(kpi.metric)
        if value is None:
            continue
        if (kpi.floor is not None and value < kpi.floor) or (kpi.ceiling is not None and value > kpi.ceiling):
            out.add(kpi.metric)
    return out


def observation(
    key: str,
    drift: tuple[str, float | None, bool | None, float | None],
    realized: tuple[bool | None, bool] | None,
    event: int,
    champion: str,
) -> MonitoringObservation:
    status, share, estimated, growth = drift
    degraded, breach = realized if realized is not None else (None, False)
    return MonitoringObservation(key, status, share, breach, event, estimated, degraded, champion, growth)
