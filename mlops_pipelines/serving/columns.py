"""A request's validated rows as typed columns, built once and shared by scoring, routing and the log.

Row dicts exist only between validation and this conversion. Everything after it (canary
split, batching requests into one model call, shadow copies, the prediction log) slices and
concatenates numpy arrays instead of walking dicts, which keeps the interpreter's share of the
GIL small, and leaves the garbage collector a handful of arrays instead of a dict per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.features import build_feature_arrays, event_times
from mlops_pipelines.lib.frames import EVENT_TIME

if TYPE_CHECKING:
    from mlops_pipelines.spec import DType, ProjectSpec


def frame_columns(spec: ProjectSpec) -> list[str]:
    """The request columns scoring and logging read: features, time axis and entity key."""
    wanted = {*spec.feature_columns, spec.time.column, spec.time.hour_column, spec.serving.entity_key}
    return [name for name in spec.columns if name in wanted]


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _to_naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _column(values: list[Any], dtype: DType) -> np.ndarray:
    """One column as a typed array; validated values need no inference, only packing."""
    if dtype == "date":
        if None not in values:
            # Day numbers, not date objects: numpy converts those one by one, 10x slower.
            days = np.fromiter((d.toordinal() for d in values), dtype="int64", count=len(values))
            return (days - _EPOCH_ORDINAL).astype("datetime64[D]").astype("datetime64[ns]")
        return np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")
    if dtype == "datetime":
        return np.array([_to_naive_utc(v) for v in values], dtype="datetime64[us]").astype("datetime64[ns]")
    if dtype == "float":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "int" and None not in values:
        return np.array(values, dtype="int64")
    # str, bool and nullable int stay objects with None for nulls, as build_features expects.
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


@dataclass(frozen=True)
class RequestRows:
    """Rows of one request (or a slice of it) as typed columns, plus when they arrived."""

    columns: dict[str, np.ndarray]
    size: int
    received_at: np.ndarray  # datetime64[ns] per row (naive UTC)

    def __len__(self) -> int:
        return self.size

    @classmethod
    def from_rows(cls, spec: ProjectSpec, rows: list[dict[str, Any]], received_at: datetime) -> RequestRows:
        columns = {
            name: _column([row.get(name) for row in rows], spec.columns[name].dtype)
            for name in frame_columns(spec)
        }
        stamps = np.full(len(rows), np.datetime64(received_at, "ns"))
        return cls(columns, len(rows), stamps)

    def take(self, index: np.ndarray | slice) -> RequestRows:
        picked = self.received_at[index]
        return RequestRows({k: v[index] for k, v in self.columns.items()}, len(picked), picked)

    @staticmethod
    def concat(parts: Sequence[RequestRows]) -> RequestRows:
        if len(parts) == 1:
            return parts[0]
        columns = {name: np.concatenate([p.columns[name] for p in parts]) for name in parts[0].columns}
        return RequestRows(
            columns, sum(p.size for p in parts), np.concatenate([p.received_at for p in parts])
        )

    def entities(self, spec: ProjectSpec, fallback: str) -> list[str]:
        """The sticky routing key per row: the spec's entity key, else `fallback` (the request id)."""
        key = spec.serving.entity_key
        if key is None or key not in self.columns:
            return [fallback] * self.size
        return [fallback if v is None else str(v) for v in self.columns[key].tolist()]

    def frame(self, spec: ProjectSpec) -> pd.DataFrame:
        """The rows as a conformed frame with `_event_time`: from the spec's time column via the
        shared `event_times`, else the arrival time (arrival-ordered projects happen when they arrive)."""
        frame = pd.DataFrame(self.columns)
        if spec.time.column:
            frame[EVENT_TIME] = event_times(frame, spec)
        else:
            frame[EVENT_TIME] = self.received_at
        return frame

    def features(self, spec: ProjectSpec) -> dict[str, np.ndarray]:
        """The model's input columns, through the same `build_feature_arrays` training ends in."""
        times = None
        if spec.features.time_features:
            # Only derived time features read the event time; skip building it otherwise.
            times = self.frame(spec)[EVENT_TIME].to_numpy()
        return build_feature_arrays({name: self.columns[name] for name in spec.feature_columns}, spec, times)
