"""Prequential scores of a schedule: each partition scored by the model that served it.

The headline number pools every scored row (an MAE over all rows, a ROC-AUC over all rows),
as a person comparing strategies would compute it; the per-partition series is for the plot.
Quality relative to the oracle is a ratio that is 1.0 at the oracle and lower when worse, for
metrics where higher is better and where lower is better alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops_pipelines.lib.metrics import Predictions, UndefinedMetricError, higher_is_better, metric_value

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.lib.backtest.schedules import Schedule


@dataclass(frozen=True)
class Score:
    strategy: str
    metric: str
    value: float  # pooled over every scored row
    per_partition: tuple[float | None, ...]  # None where the metric is undefined on a partition
    retrains: int
    trainings: int


def concat(parts: Sequence[Predictions]) -> Predictions:
    """One Predictions over several partitions' rows (same task and classes)."""
    if not parts:
        raise ValueError("no predictions to pool")
    first = parts[0]
    proba = None if first.proba is None else np.concatenate([p.proba for p in parts if p.proba is not None])
    return Predictions(
        pd.Index(np.concatenate([np.asarray(p.index) for p in parts])),
        np.concatenate([p.y_true for p in parts]),
        np.concatenate([p.y_pred for p in parts]),
        proba,
        first.classes,
        first.positive,
    )


def partition_metric(pred: Predictions, metric: str, bank: ModelBank) -> float | None:
    if len(pred.y_true) == 0:
        return None
    try:
        return metric_value(pred, metric, bank.history.spec.task)
    except UndefinedMetricError:
        return None


def score(schedule: Schedule, bank: ModelBank, scored: range) -> Score:
    spec = bank.history.spec
    metric = spec.training.primary_metric
    parts = [bank.predict(model, i) for model, i in zip(schedule.serving, scored, strict=True)]
    pooled = metric_value(concat(parts), metric, spec.task)
    return Score(
        schedule.strategy,
        metric,
        pooled,
        tuple(partition_metric(p, metric, bank) for p in parts),
        schedule.retrain_count,
        schedule.trainings,
    )


def share_of(value: float, oracle: float, metric: str) -> float | None:
    """Quality relative to the oracle: value/oracle when higher is better, oracle/value when
    lower is better (an MAE twice the oracle's is 50 %). None when the ratio is undefined."""
    if higher_is_better(metric):
        return value / oracle if oracle > 0 else None
    if value <= 0:
        return 1.0 if oracle <= 0 else None
    return oracle / value
