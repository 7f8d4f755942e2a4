"""DLE: a regressor's expected loss on unlabelled rows, learned by a small "nanny" model.

The nanny (a seeded HistGradientBoostingRegressor) learns each reference row's loss (absolute
error for mae, squared error for rmse, absolute percentage error for mape) from the features
plus the model's prediction; a window's estimate is the mean predicted loss (rmse: its square
root), each row's prediction clipped at 0. Three nannies are cross-fitted on the reference: each
predicts the third it never saw, so the estimator's own reference estimate is honest, and a
window's estimate is their average (a small bagged ensemble, steadier than one fit).

r2 is not estimated: it divides the squared error by the window's label variance, which no
label-free method sees (the reference variance would be wrong exactly when the rows shift).
The nanny learns from the reference only, so where the window leaves the reference's range its
loss estimate stays flat at the edge: the estimate says so when many rows fall outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_pipelines.lib.metrics import UndefinedMetricError, metric_value
from mlops_pipelines.lib.monitoring.estimation_records import EstimationError, FittedModel, check_finite
from mlops_pipelines.spec import Task

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.monitoring.estimation_records import ReferencePredictions

NANNY_FOLDS = 3
# Small on purpose: the loss is noisy, the reference a few thousand rows, and the estimator is
# stored beside every champion (three nannies of this size pickle to about 300 kB).
NANNY_PARAMS: dict[str, Any] = {
    "max_iter": 50,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
# HistGradientBoosting takes at most 255 bins per feature: rarer categories read as missing.
MAX_CATEGORIES = 254
# Share of a window's rows beyond the reference's range in one column above which the estimate
# warns (in-distribution rows fall outside by chance at a rate of about 2 / reference rows).
EXTRAPOLATION_SHARE = 0.1
_ROW_LOSS = {"mae": "absolute error", "rmse": "squared error", "mape": "absolute percentage error"}


@dataclass(frozen=True)
class Encoding:
    """Features as the nanny reads them: numbers as float, categories as codes (unknown: NaN)."""

    columns: tuple[str, ...]
    categories: tuple[tuple[str, ...] | None, ...]  # per column; None for a numeric column
    # The reference's (min, max) per matrix column (the features, then the prediction); None
    # for categories and all-null columns.
    ranges: tuple[tuple[float, float] | None, ...] = ()

    def matrix(self, features: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
        import pandas as pd

        parts = []
        for name, known in zip(self.columns, self.categories, strict=True):
            column = features[name]
            if known is None:
                parts.append(
                    pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
                )
            else:
                codes = pd.Categorical(_labels(column), categories=list(known)).codes.astype("float64")
                parts.append(np.where(codes < 0, np.nan, codes))
        parts.append(predictions)
        return np.column_stack(parts)

    @property
    def categorical_mask(self) -> list[bool]:
        return [known is not None for known in self.categories] + [False]

    def outside(self, matrix: np.ndarray) -> dict[str, float]:
        """Per column (features, then the prediction): the share of rows beyond the reference's range."""
        names = (*self.columns, "prediction")
        shares = {}
        for j, bounds in enumerate(self.ranges):
            if bounds is not None and len(matrix):
                shares[names[j]] = float(np.mean((matrix[:, j] < bounds[0]) | (matrix[:, j] > bounds[1])))
        return shares

    def with_ranges(self, matrix: np.ndarray) -> Encoding:
        mask = self.categorical_mask
        ranges = [
            None
            if mask[j] or np.isnan(matrix[:, j]).all()
            else (float(np.nanmin(matrix[:, j])), float(np.nanmax(matrix[:, j])))
            for j in range(matrix.shape[1])
        ]
        return Encoding(self.columns, self.categories, tuple(ranges))


@dataclass(frozen=True)
class DleModel:
    metric: str
    encoding: Encoding
    nannies: tuple[Any, ...]  # fitted HistGradientBoostingRegressor; empty when not estimable

    def estimate(self, features: pd.DataFrame, values: np.ndarray) -> tuple[float | None, str | None]:
        if not self.nannies:
            return None, not_estimable(self.metric)
        values = np.asarray(values, dtype="float64")
        if values.ndim != 1:
            raise EstimationError(
                f"monitored values must be one prediction per row, got shape {values.shape}"
            )
        check_finite("monitored values", values)
        from threadpoolctl import threadpool_limits

        matrix = self.encoding.matrix(features, values)
        with threadpool_limits(1):  # see _cross_fit
            losses = np.mean([np.clip(n.predict(matrix), 0.0, None) for n in self.nannies], axis=0)
        outside = {
            c: share for c, share in self.encoding.outside(matrix).items() if share > EXTRAPOLATION_SHARE
        }
        reason = None
        if outside:
            listed = ", ".join(f"{c} ({share:.0%} of rows)" for c, share in outside.items())
            reason = (
                f"the window leaves the reference's range in {listed}: the nanny extrapolates flat "
                "there (it reads the loss off the nearest reference rows)"
            )
        return aggregate(self.metric, losses), reason


def not_estimable(metric: str) -> str:
    return (
        f"{metric} is not estimated: it needs the window's label variance, which no label-free "
        "method sees; use its realized value once labels arrive"
    )


def aggregate(metric: str, row_losses: np.ndarray) -> float:
    mean = float(np.mean(np.clip(row_losses, 0.0, None)))
    return float(np.sqrt(mean)) if metric == "rmse" else mean


def fit_dle(metric: str, reference: ReferencePredictions, *, seed: int) -> FittedModel:
    if reference.values is None:
        raise EstimationError("regression reference needs the model's predicted values")
    values = np.asarray(reference.values, dtype="float64")
    y_true = np.asarray(reference.y_true, dtype="float64")
    if values.ndim != 1 or len(values) != len(y_true):
        raise EstimationError(f"reference has {values.shape} predicted values for {len(y_true)} labels")
    check_finite("reference values", values)
    check_finite("reference labels", y_true)
    realized = _realized(metric, y_true, values)
    encoding = _encoding(reference.features)
    if metric not in _ROW_LOSS:
        return FittedModel(DleModel(metric, encoding, ()), realized, None, ())
    notes: list[str] = []
    keep = np.ones(len(y_true), dtype=bool)
    if metric == "mape":
        keep = y_true != 0
        if not keep.all():
            notes.append(
                f"mape: the nanny learns from the {int(keep.sum())} reference rows with a nonzero label"
            )
    error = y_true[keep] - values[keep]
    # Per metric, not a dict of all three: the mape quotient would divide by zero labels under mae.
    if metric == "mae":
        loss = np.abs(error)
    elif metric == "rmse":
        loss = error**2
    else:
        loss = np.abs(error) / np.abs(y_true[keep])
    matrix = encoding.matrix(reference.features.iloc[np.flatnonzero(keep)], values[keep])
    nannies, out_of_fold = _cross_fit(matrix, loss, encoding.categorical_mask, seed)
    model = DleModel(metric, encoding.with_ranges(matrix), nannies)
    return FittedModel(model, realized, aggregate(metric, out_of_fold), tuple(notes))


def _cross_fit(
    matrix: np.ndarray, loss: np.ndarray, categorical: list[bool], seed: int
) -> tuple[tuple[Any, ...], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits

    nannies = []
    out_of_fold = np.empty(len(loss))
    # Shuffled folds: the reference is a few weeks of rows, and contiguous folds would leave
    # each nanny without a whole stretch of it.
    for train, held_out in KFold(NANNY_FOLDS, shuffle=True, random_state=seed).split(matrix):
        nanny = HistGradientBoostingRegressor(
            categorical_features=categorical if any(categorical) else None, random_state=seed, **NANNY_PARAMS
        )
        # One thread: the nannies are small, and OpenMP threads spin-wait on a busy machine (on
        # 2 loaded cores a fit took 18 s with the default threads, 0.8 s with one).
        with threadpool_limits(1):
            nanny.fit(matrix[train], loss[train])
            out_of_fold[held_out] = nanny.predict(matrix[held_out])
        nannies.append(nanny)
    return tuple(nannies), out_of_fold


def _encoding(features: pd.DataFrame) -> Encoding:
    categories: list[tuple[str, ...] | None] = []
    for name in features.columns:
        column = features[name]
        if column.dtype.kind in "iufb":
            categories.append(None)
            continue
        counts = _labels(column).value_counts()
        categories.append(tuple(sorted(str(c) for c in counts.index[:MAX_CATEGORIES])))
    return Encoding(tuple(str(c) for c in features.columns), tuple(categories))


def _labels(column: pd.Series) -> pd.Series:
    """Category labels as strings, nulls kept null (the nanny reads them as missing)."""
    import pandas as pd

    labels = column.astype(str).to_numpy(dtype=object)
    labels[column.isna().to_numpy()] = None
    return pd.Series(labels, index=column.index, dtype=object)


def _realized(metric: str, y_true: np.ndarray, values: np.ndarray) -> float | None:
    import pandas as pd

    from mlops_pipelines.lib.metrics import Predictions

    pred = Predictions(pd.RangeIndex(len(y_true)), y_true, values, None)
    try:
        return metric_value(pred, metric, Task.REGRESSION)
    except UndefinedMetricError:
        return None  # e.g. r2 of a constant reference label: there is no level to record
