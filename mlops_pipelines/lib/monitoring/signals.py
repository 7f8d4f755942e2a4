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
bootstrap standard error times `z` (ROC-AUC's, on a window whose rarer class is thin, at least
what the class counts allow: `thin_class_noise`). Small windows therefore need a larger
worsening before they count, and a window below `min_rows` gives no verdict at all.

Under a ranking metric (ROC-AUC) the realized check also asks whether the champion's
probabilities still fit: realized accuracy against the accuracy they expect for the same rows.
A moved class prior leaves the ranking intact and the decisions wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from mlops_pipelines.lib.metrics import UndefinedMetricError, higher_is_better, metric_value

if TYPE_CHECKING:
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.spec import Task

SignalSource = Literal["realized", "estimated"]
BaselineKind = Literal["expected", "evaluated"]
NOISE_RESAMPLES = 200
# Metrics that only rank rows: a model whose probabilities no longer match the class rates
# (the prior moved) keeps its score while most of its decisions go wrong.
RANK_ONLY_METRICS = ("roc_auc",)


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


# A ranking metric's level of a model that learned nothing. ROC-AUC 0.985 -> 0.95 is 3.6 % of
# the score, inside the 5 % margin, and 7 % of the model's skill: a fraud-shaped stream's first
# model lost that over a year and served 22 months.
_CHANCE = {"roc_auc": 0.5}


def skill_scale(baseline: float, metric: str) -> float:
    """What a worsening is a share of: the baseline's distance from chance (ROC-AUC), else the
    baseline itself (1 when that is 0)."""
    scale = abs(baseline - _CHANCE.get(metric, 0.0))
    return scale if scale > 0 else 1.0


def relative_worsening(value: float, baseline: float, metric: str) -> float:
    """How much worse `value` is than `baseline`, relative to `skill_scale` (negative: better)."""
    sign = -1.0 if higher_is_better(metric) else 1.0
    return sign * (value - baseline) / skill_scale(baseline, metric)


def metric_noise(pred: Predictions, metric: str, seed: int) -> float | None:
    """Bootstrap standard error of the metric on these rows (None if it cannot be resampled)."""
    from mlops_pipelines.lib.promotion.bootstrap import resample_weights, weighted_metric

    values = np.concatenate(
        [weighted_metric(metric, pred, w) for w in resample_weights(len(pred.y_true), NOISE_RESAMPLES, seed)]
    )
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) >= NOISE_RESAMPLES // 2 else None


def thin_class_noise(pred: Predictions, value: float, need: int) -> float | None:
    """ROC-AUC's standard error from the rows of each class (Hanley & McNeil; the thinnest
    one-vs-rest split's) when a class holds fewer than `need` rows, else None.

    A classifier's window reaches back until its rarer class holds `need` rows
    (`windows.evidence_window`); a champion only just serving has nothing to reach back over,
    and there the bootstrap understates the noise: resampling 40 rows that hold one positive only
    re-weighs the one rank it drew, where another positive could have ranked anywhere. Windows
    that did fill keep the bootstrap's: this floor on every window quieted retrains that paid
    off (a stable fraud-shaped stream: 44 -> 6 live retrains, 100.0 -> 98.0 % of the oracle)."""
    from mlops_pipelines.lib.monitoring.estimation_cbpe import auc_standard_error

    labels = np.asarray(pred.y_true).astype(str)
    classes = [pred.positive] if pred.positive is not None else list(pred.classes)
    sizes = [int(np.sum(labels == str(c))) for c in classes]
    thin = [(n, len(labels) - n) for n in sizes if 0 < min(n, len(labels) - n) < need]
    if not thin:
        return None
    return max(auc_standard_error(value, n, rest) for n, rest in thin)


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
    scale = skill_scale(baseline, metric)
    relative_noise = None if noise is None else noise / scale
    bar = max(margin, z * relative_noise) if relative_noise is not None else margin
    degraded = worsening > bar
    word = "worse" if worsening > 0 else "better"
    share_of = f" (a share of the {scale:.4g} it scores above chance)" if metric in _CHANCE else ""
    reason = (
        f"{source} {metric} {value:.4g} is {abs(worsening):.1%} {word} than the {baseline_kind} "
        f"{baseline:.4g}{share_of} over {rows} rows (bar {bar:.1%}: margin {margin:.0%}"
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
    calibrated: tuple[np.ndarray, tuple[str, ...]] | None = None,
) -> PerformanceCheck:
    """Realized performance of a labelled window against the expectation for its rows (or, with
    no estimate, the champion's evaluated level). `calibrated`: the champion's probabilities on
    these rows as calibrated on its reference (CBPE), with their classes; under a ranking metric
    they also judge whether its decisions still fit (`calibration_check`)."""
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
    thin = thin_class_noise(pred, value, min_rows) if metric in RANK_ONLY_METRICS else None
    if thin is not None:
        noise = thin if noise is None else max(noise, thin)
    check = judge("realized", metric, value, baseline, kind, noise, rows, margin=margin, z=z)
    if check.degraded or metric not in RANK_ONLY_METRICS or calibrated is None:
        return check
    calibration = calibration_check(pred, calibrated, margin=margin, z=z)
    return calibration if calibration.degraded else check


def calibration_check(
    pred: Predictions, calibrated: tuple[np.ndarray, tuple[str, ...]], *, margin: float, z: float
) -> PerformanceCheck:
    """Realized accuracy against the accuracy the model's calibrated probabilities expect.

    Each row's predicted class is right with its calibrated probability `q` (calibrated on the
    champion's out-of-sample reference: raw scores of a boosted model are overconfident, and
    that is no drift), so accuracy on n rows has mean(q) as expectation and sqrt(sum q(1-q)) / n
    as standard error. Realized accuracy well below that means the probabilities no longer fit
    the data (the class prior moved), whatever the ranking metric says."""
    matrix, classes = calibrated
    column = {label: i for i, label in enumerate(classes)}
    predicted = [str(label) for label in pred.y_pred]
    unknown = sorted(set(predicted) - set(column))
    if unknown or len(matrix) != len(predicted):
        raise ValueError(
            f"calibrated probabilities ({len(matrix)} rows over classes {list(classes)}) do not fit "
            f"{len(predicted)} predictions" + (f" of label(s) {unknown}" if unknown else "")
        )
    top = matrix[np.arange(len(predicted)), [column[label] for label in predicted]]
    rows = len(top)
    expected = float(top.mean())
    realized = float(np.mean(pred.y_pred == pred.y_true))
    noise = float(np.sqrt(np.sum(top * (1 - top)))) / rows
    check = judge("realized", "accuracy", realized, expected, "expected", noise, rows, margin=margin, z=z)
    if not check.degraded:
        return check
    return replace(check, reason=f"{check.reason}; the model's probabilities no longer fit the class rates")


def estimate_noise(
    evaluated_noise: float | None, evaluated_rows: int | None, rows: int, own: float | None
) -> float | None:
    """An estimate's standard error on a window of `rows`: the evaluated level's, scaled as
    1 / sqrt(rows), or the estimate's `own` (its window's make-up: ROC-AUC's rarer class) when
    larger. Scaling by rows assumes the evaluation's class mix, which a window of nights
    without occupancy, 3 positives in 420 rows, does not have."""
    scaled = None
    if evaluated_noise is not None and evaluated_rows is not None and rows > 0:
        scaled = evaluated_noise * (evaluated_rows / rows) ** 0.5
    if own is None:
        return scaled
    return own if scaled is None else max(scaled, own)


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
