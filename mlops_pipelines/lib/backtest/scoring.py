"""Prequential scores of a schedule: each partition scored by the model that served it.

The headline number pools every scored row (an MAE over all rows, a ROC-AUC over all rows),
as a person comparing strategies would compute it; the per-partition series is for the plot.
A few more pooled metrics (`secondary_metrics`: accuracy next to a classifier's ROC-AUC, RMSE
next to an MAE, and every KPI's metric) show whether a ranking holds beyond the metric the
policy optimizes; one undefined on the pooled rows is left out and named in `undefined`.
Quality relative to the oracle is a ratio that is 1.0 at the oracle and lower when worse, for
metrics where higher is better and where lower is better alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines.lib.metrics import (
    Predictions,
    UndefinedMetricError,
    concat,
    higher_is_better,
    metric_value,
)

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.lib.backtest.schedules import Schedule
    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class Score:
    strategy: str
    metric: str
    value: float  # pooled over every scored row
    per_partition: tuple[float | None, ...]  # None where the metric is undefined on a partition
    retrains: int
    trainings: int
    secondary: tuple[tuple[str, float], ...] = ()  # (metric, pooled value), `secondary_metrics` order
    undefined: tuple[str, ...] = ()  # secondary metrics with no value on the pooled rows


def secondary_metrics(spec: ProjectSpec) -> tuple[str, ...]:
    """The pooled metrics reported besides the primary one, in a stable order."""
    usual = ("accuracy", "roc_auc") if spec.task.is_classification else ("mae", "rmse")
    asked = [*usual, *(k.metric for k in spec.kpis)]
    primary = spec.training.primary_metric
    return tuple(m for m in dict.fromkeys(asked) if m != primary)


def partition_metric(pred: Predictions, metric: str, bank: ModelBank) -> float | None:
    if len(pred.y_true) == 0:
        return None
    try:
        return metric_value(pred, metric, bank.history.spec.task)
    except UndefinedMetricError:
        return None


def score(schedule: Schedule, bank: ModelBank, scored: range, *, also: bool = True) -> Score:
    """`schedule`'s prequential score over `scored`; `also=False` skips the secondary metrics
    (the tuner scores hundreds of schedules and reads the primary one alone)."""
    spec = bank.history.spec
    metric = spec.training.primary_metric
    parts = [bank.predict(model, i) for model, i in zip(schedule.serving, scored, strict=True)]
    rows = concat(parts)
    secondary, undefined = [], []
    for other in secondary_metrics(spec) if also else ():
        try:
            secondary.append((other, metric_value(rows, other, spec.task)))
        except UndefinedMetricError:
            undefined.append(other)
    return Score(
        schedule.strategy,
        metric,
        metric_value(rows, metric, spec.task),
        tuple(partition_metric(p, metric, bank) for p in parts),
        schedule.retrain_count,
        schedule.trainings,
        tuple(secondary),
        tuple(undefined),
    )


def share_of(value: float, oracle: float, metric: str) -> float | None:
    """Quality relative to the oracle: value/oracle when higher is better, oracle/value when
    lower is better (an MAE twice the oracle's is 50 %). None when the ratio is undefined."""
    if higher_is_better(metric):
        return value / oracle if oracle > 0 else None
    if value <= 0:
        return 1.0 if oracle <= 0 else None
    return oracle / value
