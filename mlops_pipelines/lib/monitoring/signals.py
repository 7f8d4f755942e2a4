"""Performance signals per monitored window: is the champion doing worse than it should?

Two kinds, judged alike:
- realized: the metric on labelled rows once their labels arrive, compared with what the
  champion was EXPECTED to reach on those same rows (its label-free estimate for them, CBPE or
  DLE), or, without an estimator, with the level it reached in its own evaluation;
- estimated: the label-free estimate on the window, compared with the champion's level on its
  own (out-of-sample) evaluation rows.
Comparing realized performance with the expectation for the same rows is what keeps a stream
whose rows arrive ordered by a group quiet: a window of one group can have a lower ROC-AUC than
the pooled evaluation without the model being any worse, and the estimate knows it.

A window is degraded only when the relative worsening passes the margin AND the noise: its
bootstrap standard error times `z`. Small windows therefore need a larger worsening before they
count, and a window below `min_rows` gives no verdict at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from mlops_pipelines.lib.metrics import UndefinedMetricError, higher_is_better, metric_value

if TYPE_CHECKING:
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.spec import Task

SignalSource = Literal["realized", "estimated"]
BaselineKind = Literal["expected", "evaluated"]
NOISE_RESAMPLES = 200


@dataclass(frozen=True)
class PerformanceCheck:
    source: SignalSource
    metric: str
    value: float | None  # the window's metric (realized or estimated)
    baseline: float | None  # what it is compared with
    baseline_kind: BaselineKind
    worsening: float | None  # relative: positive is worse, 0.1 = 10 % worse than the baseline
    noise: float | None  # relative standard error of `value` (None: not measured)
    degraded: bool | None  # None: no verdict (too few rows, undefined metric, no baseline)
    rows: int
    reason: str


def relative_worsening(value: float, baseline: float, metric: str) -> float:
    """How much worse `value` is than `baseline`, relative to the baseline (negative: better)."""
    sign = -1.0 if higher_is_better(metric) else 1.0
    scale = abs(baseline) if baseline != 0 else 1.0
    return sign * (value - baseline) / scale


def metric_noise(pred: Predictions, metric: str, seed: int) -> float | None:
    """Bootstrap standard error of the metric on these rows (None if it cannot be resampled)."""
    from mlops_pipelines.lib.promotion.bootstrap import resample_weights, weighted_metric

    values = np.concatenate(
        [weighted_metric(metric, pred, w) for w in resample_weights(len(pred.y_true), NOISE_RESAMPLES, seed)]
    )
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) >= NOISE_RESAMPLES // 2 else None


def judge(
    source: SignalSource,
    metric: str,
    value: float | None,
    baseline: float | None,
    baseline_kind: BaselineKind,
    noise: float | None,
    rows: int,
    *,
    margin: float,
    z: float,
) -> PerformanceCheck:
    """The verdict on one window; `noise` is the standard error of `value` in metric units."""
    if value is None or baseline is None:
        missing = "value" if value is None else f"{baseline_kind} baseline"
        return PerformanceCheck(
            source,
            metric,
            value,
            baseline,
            baseline_kind,
            None,
            None,
            None,
            rows,
            f"no {source} verdict: no {missing}",
        )
    worsening = relative_worsening(value, baseline, metric)
    scale = abs(baseline) if baseline != 0 else 1.0
    relative_noise = None if noise is None else noise / scale
    bar = max(margin, z * relative_noise) if relative_noise is not None else margin
    degraded = worsening > bar
    word = "worse" if worsening > 0 else "better"
    reason = (
        f"{source} {metric} {value:.4g} is {abs(worsening):.1%} {word} than the {baseline_kind} "
        f"{baseline:.4g} over {rows} rows (bar {bar:.1%}: margin {margin:.0%}"
        + (f", {z:g} x noise {relative_noise:.1%})" if relative_noise is not None else ")")
    )
    return PerformanceCheck(
        source, metric, value, baseline, baseline_kind, worsening, relative_noise, degraded, rows, reason
    )


def realized_check(
    pred: Predictions,
    task: Task,
    metric: str,
    *,
    expected: float | None,
    evaluated: float | None,
    margin: float,
    z: float,
    min_rows: int,
    seed: int = 0,
) -> PerformanceCheck:
    """Realized performance of a labelled window against the expectation for its rows (or, with
    no estimate, the champion's evaluated level)."""
    rows = len(pred.y_true)
    kind: BaselineKind = "expected" if expected is not None else "evaluated"
    baseline = expected if expected is not None else evaluated
    if rows < min_rows:
        return PerformanceCheck(
            "realized",
            metric,
            None,
            baseline,
            kind,
            None,
            None,
            None,
            rows,
            f"no realized verdict: {rows} labelled rows, fewer than {min_rows}",
        )
    try:
        value = metric_value(pred, metric, task)
    except UndefinedMetricError as err:
        return PerformanceCheck(
            "realized", metric, None, baseline, kind, None, None, None, rows, f"no realized verdict: {err}"
        )
    noise = metric_noise(pred, metric, seed)
    return judge("realized", metric, value, baseline, kind, noise, rows, margin=margin, z=z)


def estimated_check(
    value: float | None,
    rows: int,
    metric: str,
    *,
    evaluated: float | None,
    noise: float | None,
    margin: float,
    z: float,
    min_rows: int,
) -> PerformanceCheck:
    """A label-free estimate for a window against the champion's evaluated level."""
    if rows < min_rows:
        return PerformanceCheck(
            "estimated",
            metric,
            None,
            evaluated,
            "evaluated",
            None,
            None,
            None,
            rows,
            f"no estimated verdict: {rows} rows, fewer than {min_rows}",
        )
    return judge("estimated", metric, value, evaluated, "evaluated", noise, rows, margin=margin, z=z)
