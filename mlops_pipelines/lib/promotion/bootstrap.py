"""Vectorised paired bootstrap of a metric difference between two models on the same rows.

A resample is a row of multiplicity weights (how often each row was drawn), so every metric
becomes weighted sums that numpy computes for a block of resamples at once; both models share
the weights, which is what makes the comparison paired. ROC-AUC is exact too: scores are
sorted once and the weighted Mann-Whitney count is a cumulative sum per resample.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, higher_is_better

if TYPE_CHECKING:
    from mlops_pipelines.lib.metrics import Predictions

BLOCK_CELLS = 2_000_000  # resamples x rows held in memory at once (16 MB of float64)


def resample_weights(n_rows: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of (resamples, n_rows) draw counts; each row of a block sums to n_rows."""
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(n_rows, 1))
    done = 0
    while done < samples:
        size = min(block, samples - done)
        draws = rng.integers(0, n_rows, size=(size, n_rows))
        offsets = (np.arange(size) * n_rows)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=size * n_rows)
        yield counts.reshape(size, n_rows).astype("float64")
        done += size


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def _binary_counts(w: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    tp = w @ (truth & predicted).astype("float64")
    fp = w @ (~truth & predicted).astype("float64")
    fn = w @ (truth & ~predicted).astype("float64")
    return tp, fp, fn


def _label_metric(metric: str, w: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    tp, fp, fn = _binary_counts(w, truth, predicted)
    if metric == "precision":
        return _ratio(tp, tp + fp)
    if metric == "recall":
        return _ratio(tp, tp + fn)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def weighted_auc(w: np.ndarray, truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC per weight row (ties count one half); NaN where a resample lacks a class."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    positive = truth[order].astype("float64")
    ws = w[:, order]
    pos = np.add.reduceat(ws * positive, starts, axis=1)
    neg = np.add.reduceat(ws * (1.0 - positive), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = np.sum(pos * (below + 0.5 * neg), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)


def _classification(metric: str, pred: Predictions, w: np.ndarray) -> np.ndarray:
    assert pred.proba is not None
    n = len(pred.y_true)
    labels = np.asarray(pred.classes, dtype=object)
    onehot = pred.y_true[:, None] == labels[None, :]
    if metric == "accuracy":
        return w @ (pred.y_true == pred.y_pred).astype("float64") / n
    if metric == "log_loss":
        eps = np.finfo(pred.proba.dtype).eps
        # predict() guarantees every true label is a model class: one True per row of onehot.
        p_true = np.clip(pred.proba[onehot], eps, 1 - eps)
        return w @ -np.log(p_true) / n
    if metric == "brier":
        if pred.positive is not None:
            per_row = (pred.positive_scores - (pred.y_true == pred.positive)) ** 2
        else:
            per_row = np.sum((pred.proba - onehot) ** 2, axis=1)
        return w @ per_row / n
    if pred.positive is not None:
        truth = pred.y_true == pred.positive
        if metric == "roc_auc":
            return weighted_auc(w, truth, pred.positive_scores)
        return _label_metric(metric, w, truth, pred.y_pred == pred.positive)
    # multiclass: the unweighted mean over classes (macro), as the evaluation reports it
    per_class = [
        weighted_auc(w, onehot[:, k], pred.proba[:, k])
        if metric == "roc_auc"
        else _label_metric(metric, w, onehot[:, k], pred.y_pred == label)
        for k, label in enumerate(pred.classes)
    ]
    return np.mean(per_class, axis=0)


def _regression(metric: str, pred: Predictions, w: np.ndarray) -> np.ndarray:
    n = len(pred.y_true)
    error = pred.y_true - pred.y_pred
    if metric == "mae":
        return w @ np.abs(error) / n
    if metric == "rmse":
        return np.sqrt(w @ error**2 / n)
    if metric == "mape":
        nonzero = pred.y_true != 0
        relative = np.where(nonzero, np.abs(error) / np.where(nonzero, np.abs(pred.y_true), 1.0), 0.0)
        counted = w @ nonzero.astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counted > 0, (w @ relative) / counted, np.nan)
    total = w @ pred.y_true
    spread = w @ pred.y_true**2 - total**2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, 1.0 - (w @ error**2) / spread, np.nan)


def weighted_metric(metric: str, pred: Predictions, w: np.ndarray) -> np.ndarray:
    """`metric` of `pred` under each row of weights `w` (resamples x rows)."""
    if pred.proba is not None:
        if metric not in CLASSIFICATION_METRICS:
            raise ValueError(f"metric '{metric}' cannot be bootstrapped for a classifier")
        return _classification(metric, pred, w)
    if metric not in REGRESSION_METRICS:
        raise ValueError(f"metric '{metric}' cannot be bootstrapped for a regressor")
    return _regression(metric, pred, w)


def paired_improvements(
    challenger: Predictions, champion: Predictions, metric: str, samples: int, seed: int
) -> np.ndarray:
    """Bootstrap distribution of the challenger's improvement (positive = better) over the champion.

    Resamples where the metric is undefined for either model (e.g. one class only) are dropped.
    """
    sign = 1.0 if higher_is_better(metric) else -1.0
    blocks = []
    for w in resample_weights(len(challenger.y_true), samples, seed):
        diff = weighted_metric(metric, challenger, w) - weighted_metric(metric, champion, w)
        blocks.append(sign * diff + 0.0)  # + 0.0 turns -0.0 into 0.0 for readable intervals
    diffs = np.concatenate(blocks)
    kept = diffs[np.isfinite(diffs)]
    if len(kept) < samples / 2:
        raise ValueError(f"'{metric}' is undefined on most bootstrap resamples: the holdout is too small")
    return kept
