"""The prediction log: one row per scored input row, shared by the HTTP service and batch scoring.

Every route (champion, shadow, canary, batch) writes the same uniform schema, so monitoring
reads one table: regression fills `prediction`, classification fills `prediction_label` and
`score`, and the other columns stay null. Each feature input column of the spec is logged as
its own typed column, which is what drift monitoring compares against the training window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlops_pipelines.lib import grains
from mlops_pipelines.lib.features import event_times
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
from mlops_pipelines.lib.ingestion.conform import TARGET_DTYPES
from mlops_pipelines.lib.metrics import declared_columns, positive_label
from mlops_pipelines.spec import Grain, Task

if TYPE_CHECKING:
    from mlops_pipelines.spec import DType, ProjectSpec

Route = Literal["champion", "shadow", "canary", "batch"]
ROUTES: tuple[Route, ...] = ("champion", "shadow", "canary", "batch")
LOG_COLUMNS = (
    "request_id",
    EVENT_TIME,
    PARTITION,
    "logged_at",
    "model_version",
    "route",
    "prediction",
    "prediction_label",
    "score",
    "latency_ms",
    "entity",
)
# Same dtypes as a conformed frame, so logged features compare like for like.
_FEATURE_DTYPES: dict[DType, Any] = dict(TARGET_DTYPES)


@dataclass(frozen=True)
class Predictions:
    """Model output for a batch of rows: values for regression, labels and scores for classes."""

    value: np.ndarray | None  # float64 per row (regression)
    label: np.ndarray | None  # object array of str per row (classification)
    score: np.ndarray | None  # positive-class (binary) or max (multiclass) probability
    proba: np.ndarray | None  # (rows, classes) in `classes` order
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        present = self.value if self.value is not None else self.label
        return 0 if present is None else len(present)

    @classmethod
    def regression(cls, values: Sequence[float] | np.ndarray) -> Predictions:
        return cls(np.asarray(values, dtype="float64").reshape(-1), None, None, None)

    @classmethod
    def classification(
        cls, proba: np.ndarray, classes: Sequence[str], task: Task, declared: Sequence[str] | None = None
    ) -> Predictions:
        """From a (rows, classes) probability matrix; `declared` are the spec's categories."""
        proba = np.asarray(proba, dtype="float64")
        names = tuple(str(c) for c in classes)
        if proba.ndim != 2 or proba.shape[1] != len(names):
            raise ValueError(
                f"probabilities of shape {proba.shape} do not match {len(names)} classes {names}"
            )
        proba, names = declared_columns(proba, names, declared)
        labels = np.asarray(names, dtype=object)[proba.argmax(axis=1)]
        # Binary: the positive class's probability (as evaluation scores it); else the top one.
        binary = task is Task.BINARY
        score = proba[:, names.index(positive_label(names, declared))] if binary else proba.max(axis=1)
        return cls(None, labels, score, proba, names)

    def take(self, index: slice | np.ndarray) -> Predictions:
        def pick(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[index]

        return Predictions(
            pick(self.value), pick(self.label), pick(self.score), pick(self.proba), self.classes
        )

    @staticmethod
    def concat(parts: Sequence[Predictions]) -> Predictions:
        if not parts:
            raise ValueError("cannot concatenate zero prediction batches")

        def join(arrays: list[np.ndarray | None]) -> np.ndarray | None:
            if all(a is None for a in arrays):
                return None
            if any(a is None for a in arrays):
                raise ValueError("cannot concatenate regression and classification predictions")
            return np.concatenate([a for a in arrays if a is not None])

        classes = parts[0].classes
        same_classes = all(p.classes == classes for p in parts)
        proba = join([p.proba for p in parts]) if same_classes else None
        value, label = join([p.value for p in parts]), join([p.label for p in parts])
        return Predictions(
            value, label, join([p.score for p in parts]), proba, classes if same_classes else ()
        )


def partition_key(ts: datetime | pd.Timestamp, grain: Grain | str, week_start: str = "monday") -> str:
    """The Dagster partition key holding `ts`: hourly 'YYYY-MM-DD-HH:00', else the period's first
    day 'YYYY-MM-DD' (weekly: the `week_start` day; monthly, quarterly, yearly: the 1st)."""
    stamp = pd.Timestamp(ts)
    if stamp.tz is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return str(partition_keys(pd.Series([stamp]), grain, week_start).iloc[0])


def partition_keys(times: pd.Series, grain: Grain | str, week_start: str = "monday") -> pd.Series:
    """Vectorised `partition_key` over a datetime series (NaT gives NaN); lib/grains keys them,
    formatting each distinct period once (pandas' strftime walks rows in Python)."""
    return grains.partition_keys(naive_utc(times), Grain(grain).value, week_start)


def naive_utc(times: pd.Series) -> pd.Series:
    """Timestamps as timezone-naive UTC (the lake's convention); naive input is taken as UTC."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(times.dtype):
        return times.astype("datetime64[ns]")
    # Objects (dates, naive and aware datetimes mixed): no cache, which would iterate in Python.
    converted = pd.to_datetime(times, utc=True, cache=False)
    return converted.dt.tz_localize(None).astype("datetime64[ns]")


def _per_row(value: Any, n: int, name: str) -> Any:
    if isinstance(value, str | int | float | datetime):
        return [value] * n
    values = value if isinstance(value, np.ndarray) else list(value)
    if len(values) != n:
        raise ValueError(f"'{name}' has {len(values)} value(s) for {n} row(s)")
    return values


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _row_event_times(spec: ProjectSpec, rows: pd.DataFrame, logged_at: pd.Series) -> pd.Series:
    if EVENT_TIME in rows.columns:
        return naive_utc(rows[EVENT_TIME])
    if spec.time.column and spec.time.column in rows.columns:
        return naive_utc(event_times(rows, spec)).set_axis(rows.index)
    return logged_at


def _feature_column(spec: ProjectSpec, rows: pd.DataFrame, name: str) -> pd.Series:
    dtype = spec.columns[name].dtype
    if name not in rows.columns:
        return pd.Series(pd.NA if dtype in ("int", "bool") else None, index=rows.index).astype(
            _FEATURE_DTYPES[dtype]
        )
    column: Any = rows[name]
    if dtype in ("date", "datetime"):
        return naive_utc(column)
    if dtype == "str":
        return column.astype("object").where(column.notna(), None)
    if dtype == "int":
        return pd.to_numeric(column).astype("Int64")
    return column.astype(_FEATURE_DTYPES[dtype])


def build_log_frame(
    spec: ProjectSpec,
    rows: pd.DataFrame,
    predictions: Predictions,
    route: Route | Sequence[Route] | np.ndarray,
    model_version: str | Sequence[str] | np.ndarray,
    request_ids: str | Sequence[str] | np.ndarray,
    latency_ms: float | Sequence[float] | np.ndarray,
    logged_at: datetime | Sequence[datetime] | np.ndarray | None = None,
) -> pd.DataFrame:
    """The log rows for `rows` (the scored inputs, in order) and their `predictions`.

    Scalars apply to every row; sequences give one value per row. The event time comes from the
    rows (`_event_time`, else the spec's time column), else it is `logged_at` (now by default),
    as for arrival-ordered projects scored in real time. Times are stored as naive UTC.
    """
    n = len(rows)
    if len(predictions) != n:
        raise ValueError(f"{len(predictions)} prediction(s) for {n} row(s)")
    if logged_at is None or isinstance(logged_at, datetime):
        stamps = pd.Series(pd.Timestamp(logged_at or datetime.now(UTC)), index=rows.index)
    elif isinstance(logged_at, np.ndarray) and logged_at.dtype.kind == "M":
        stamps = pd.Series(logged_at, index=rows.index)
    else:
        stamps = pd.Series(_per_row(logged_at, n, "logged_at"), index=rows.index, dtype=object)
    stamps = naive_utc(stamps)
    clash = sorted(set(spec.feature_columns) & set(LOG_COLUMNS))
    if clash:
        raise ValueError(f"feature column(s) {clash} of '{spec.name}' clash with prediction-log columns")
    routes = _per_row(route, n, "route")
    unknown = sorted(set(routes) - set(ROUTES))
    if unknown:
        raise ValueError(f"route(s) {unknown} are not among {list(ROUTES)}")
    times = _row_event_times(spec, rows, stamps)
    key = spec.serving.entity_key
    if key and key in rows.columns and rows[key].dtype.kind in "iu":
        # Plain integer keys have no nulls: numpy formats them all at once.
        entity = pd.Series(rows[key].to_numpy().astype(str), index=rows.index, dtype=object)
    elif key and key in rows.columns:
        values = rows[key].astype(object).tolist()
        entity = pd.Series([None if _missing(v) else str(v) for v in values], index=rows.index, dtype=object)
    else:
        entity = pd.Series(None, index=rows.index, dtype=object)
    regression = predictions.value is not None
    out = pd.DataFrame(
        {
            "request_id": pd.Series(_per_row(request_ids, n, "request_ids"), index=rows.index, dtype=object),
            EVENT_TIME: times,
            PARTITION: partition_keys(times, spec.partitions.grain, spec.partitions.week_start)
            if n
            else pd.Series([], dtype=object),
            "logged_at": stamps,
            "model_version": pd.Series(
                _per_row(model_version, n, "model_version"), index=rows.index, dtype=object
            ),
            "route": pd.Series(routes, index=rows.index, dtype=object),
            "prediction": predictions.value if regression else np.full(n, np.nan),
            "prediction_label": (
                pd.Series(None, index=rows.index, dtype=object) if regression else predictions.label
            ),
            "score": np.full(n, np.nan) if regression else predictions.score,
            "latency_ms": np.asarray(_per_row(latency_ms, n, "latency_ms"), dtype="float64"),
            "entity": entity.astype(object),
        },
        index=rows.index,
    )
    for name in spec.feature_columns:
        out[name] = _feature_column(spec, rows, name)
    return out.reset_index(drop=True)


def predict_frame(spec: ProjectSpec, pipeline: Any, features: pd.DataFrame) -> Predictions:
    """Predictions of a fitted sklearn pipeline for rows of the features table (batch scoring)."""
    from mlops_pipelines.lib.features import feature_kinds

    inputs = features[list(feature_kinds(spec))]
    if spec.task.is_classification:
        proba = pipeline.predict_proba(inputs)
        return Predictions.classification(proba, [str(c) for c in pipeline.classes_], spec.task, spec.classes)
    return Predictions.regression(pipeline.predict(inputs))
