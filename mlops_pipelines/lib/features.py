"""Feature construction shared by training, batch scoring and the HTTP service.

One function types the model's input columns, so training and serving cannot drift apart:
`build_features` (training, batch scoring) frames what `build_feature_arrays` returns, and
the service calls `build_feature_arrays` on each request's columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlops_pipelines import names
from mlops_pipelines.lib.chunks import CHUNK_ROWS, chunk_keys, concat_arrow, release_memory
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID, TableSlice
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.ports import TableStore

FeatureKind = Literal["numeric", "categorical"]


def feature_kinds(spec: ProjectSpec) -> dict[str, FeatureKind]:
    """The model's input columns in a fixed order, each tagged numeric or categorical."""
    kinds: dict[str, FeatureKind] = {}
    for name in spec.feature_columns:
        dtype = spec.columns[name].dtype
        kinds[name] = "categorical" if dtype in ("str", "bool", "date", "datetime") else "numeric"
    for derived in spec.features.time_features:
        kinds[f"time_{derived}"] = "numeric"
    return kinds


def event_times(frame: pd.DataFrame, spec: ProjectSpec) -> pd.Series:
    """The rows' event time: the system column if present, else the spec's time column."""
    if EVENT_TIME in frame.columns:
        times = frame[EVENT_TIME]
        # Already timestamps (the usual case): to_datetime would walk the values again.
        return times if pd.api.types.is_datetime64_any_dtype(times) else pd.to_datetime(times)
    if spec.time.column and spec.time.column in frame.columns:
        from mlops_pipelines.lib.time_axis import parse_time_axis

        # The same reading as ingestion's: a year, an epoch or a date string alike (an hour or
        # month column the rows lack is left out, as before).
        time = spec.time
        for extra in ("hour_column", "day_column", "month_column"):
            if getattr(time, extra) and getattr(time, extra) not in frame.columns:
                time = time.model_copy(update={extra: None})
        return parse_time_axis(frame, time)
    raise KeyError(
        f"cannot derive event time: neither '{EVENT_TIME}' nor time column '{spec.time.column}' present"
    )


def build_features(frame: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """Model input for `frame` (conformed rows; the target may be absent)."""
    missing = [c for c in spec.feature_columns if c not in frame.columns]
    if missing:
        raise KeyError(f"feature column(s) {missing} missing from input")
    times = event_times(frame, spec) if spec.features.time_features else None
    columns = build_feature_arrays({name: frame[name] for name in spec.feature_columns}, spec, times)
    return pd.DataFrame(columns, index=frame.index)


def build_feature_arrays(
    columns: Mapping[str, Any], spec: ProjectSpec, times: Any = None
) -> dict[str, np.ndarray]:
    """The model's input columns, in model order, from raw columns (arrays, lists or Series).

    Numeric features become float64 with NaN for nulls; categorical ones object arrays with
    None for nulls (what the pipeline's imputers expect: missing_values=None), dates and
    datetimes as pandas Timestamps. `times` (datetime64 values) feeds the derived time features.
    The DataFrame path (`build_features`) and the service's per-request column path both end
    here, so training and serving type every feature the same way.
    """
    kinds = feature_kinds(spec)
    out: dict[str, np.ndarray] = {}
    for name in spec.feature_columns:
        values = columns[name]
        try:
            out[name] = _numeric(values) if kinds[name] == "numeric" else _categorical(values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"feature column '{name}': {err}") from err
    if spec.features.time_features:
        if times is None:
            raise KeyError("time features need the rows' event times")
        index = pd.DatetimeIndex(times)
        for derived in spec.features.time_features:
            out[f"time_{derived}"] = np.asarray(getattr(index, derived), dtype="float64")
    return out


def _numeric(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype("float64", copy=False)
    if isinstance(values, pd.Series) and values.dtype.kind in "iuf":
        return values.to_numpy(dtype="float64", na_value=np.nan)  # nullable Int64 holds NA
    # Nullable and object columns: pandas' own parsing, so None, NA and NaN all read as NaN
    # and a non-numeric value raises naming it.
    numbers = pd.to_numeric(pd.Series(values, dtype=object if isinstance(values, list) else None))
    return np.asarray(numbers.astype("float64"), dtype="float64")


def _categorical(values: Any) -> np.ndarray:
    if (
        isinstance(values, np.ndarray)
        and values.dtype == object
        and all(v is None or isinstance(v, str | bool) for v in values)
    ):
        return values  # validated request values: nothing for pandas to normalise
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if series.dtype.kind == "M":
        # Timestamps, not the nanosecond integers numpy would hand back for datetime64.
        stamps = series.astype(object).to_numpy(dtype=object)
        stamps[series.isna().to_numpy()] = None
        return stamps
    if series.dtype == object and not series.isna().any():
        return series.to_numpy(dtype=object)
    return series.astype("object").where(series.notna(), None).to_numpy(dtype=object)  # type: ignore[call-overload]


def build_target(frame: pd.DataFrame, spec: ProjectSpec) -> pd.Series:
    """The training label, typed for the task (strings for classes, float for regression)."""
    target = frame[spec.target]
    if spec.task.is_classification:
        return target.astype("str")
    return pd.to_numeric(target, errors="raise").astype("float64")


def feature_table(validated: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """The features table: model input plus what training and evaluation need beside it
    (label, slice and sensitive columns, event time, partition and row id)."""
    table = build_features(validated, spec)
    context_columns = [
        c for c in dict.fromkeys([*spec.sensitive_attributes, *spec.slices]) if c not in table.columns
    ]
    for column in context_columns:
        table[column] = validated[column]
    table[spec.target] = validated[spec.target]
    table[EVENT_TIME] = event_times(validated, spec)
    table[PARTITION] = validated[PARTITION]
    # A total order (time, partition, row) makes every later read and training run repeatable.
    table[ROW_ID] = validated[ROW_ID]
    return table


@dataclass(frozen=True)
class FeaturesResult:
    """What the features stage stored."""

    features: TableSlice
    validated_version: int  # the validated table version the features were built from
    feature_columns: tuple[str, ...]  # the table's spec columns, label excluded, in table order


def build_features_slice(
    spec: ProjectSpec, validated: TableSlice, tables: TableStore, chunk_rows: int = CHUNK_ROWS
) -> FeaturesResult:
    """The features stage: the rows `validated` pins -> `feature_table` -> the features table.

    Replaces exactly the validated slice's partitions, so a re-run of a day replaces that day.
    Features are row-wise, so a large slice is built in groups of partitions (lib.chunks) and
    written once: the same table, at a fraction of the memory.
    """
    from dataclasses import replace

    from mlops_pipelines.lib.lake import to_arrow

    pieces: list[Any] = []
    columns: tuple[str, ...] = ()
    for chunk in chunk_keys(validated.partitions, tables.slice_rows(validated), chunk_rows):
        table = feature_table(tables.read_slice(replace(validated, partitions=tuple(chunk))), spec)
        columns = tuple(str(c) for c in table.columns if not str(c).startswith("_") and c != spec.target)
        pieces.append(to_arrow(table))
        del table
    piece = tables.write_partitions(
        spec.name, names.FEATURES, concat_arrow(pieces), list(validated.partitions)
    )
    del pieces
    release_memory(piece.rows)
    return FeaturesResult(features=piece, validated_version=validated.version, feature_columns=columns)
