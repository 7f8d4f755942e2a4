"""Structural conformance: put a raw batch into the spec's columns and nullable-safe dtypes.

Pure pandas and fast, so it runs before Great Expectations: a batch that cannot be stored in
the typed table (missing, extra or uncastable columns) is quarantined whole, never half-typed.

Dtypes of a conformed frame: int -> 'Int64', float -> 'float64', bool -> 'boolean',
date/datetime -> 'datetime64[ns]' (zone-aware values converted to UTC, then naive) and
str -> object holding `str` or None. Strings stay object
(not pandas 'string') because that is what pyarrow/deltalake hand back on read under pandas 2,
so a frame written to the validated table and read back has the same dtypes; sklearn's encoders
and `features.build_features` expect object too, and GX's pandas set/null checks treat it natively.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from mlops_pipelines.lib.frames import PARTITION, ROW_ID
from mlops_pipelines.lib.hints import did_you_mean
from mlops_pipelines.spec import ColumnSpec, DType, ProjectSpec

ProblemKind = Literal["missing", "extra", "retyped", "unparseable"]
QUARANTINE_COLUMNS = (PARTITION, ROW_ID, "reasons", "payload")
TARGET_DTYPES: dict[DType, str] = {
    "int": "Int64",
    "float": "float64",
    "str": "object",
    "bool": "boolean",
    "date": "datetime64[ns]",
    "datetime": "datetime64[ns]",
}
_BOOL_TOKENS = {"true": True, "false": False, "t": True, "f": False, "yes": True, "no": False}
_BOOL_TOKENS |= {"y": True, "n": False, "1": True, "0": False, "1.0": True, "0.0": False}
_EXAMPLES = 3


@dataclass(frozen=True)
class SchemaProblem:
    column: str
    kind: ProblemKind
    detail: str

    @property
    def message(self) -> str:
        return f"column '{self.column}' {self.kind}: {self.detail}"


@dataclass(frozen=True, eq=False)
class Conformed:
    """The typed frame, or None with the problems that stop the batch from being stored."""

    frame: pd.DataFrame | None
    problems: tuple[SchemaProblem, ...]

    @property
    def ok(self) -> bool:
        return self.frame is not None


class _CastError(Exception):
    def __init__(self, kind: ProblemKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(_EXAMPLES).tolist())


def _uncastable(series: pd.Series, bad: pd.Series, dtype: DType, why: str = "cannot be cast") -> _CastError:
    detail = (
        f"expected {dtype} ({TARGET_DTYPES[dtype]}), arrived {series.dtype}; "
        f"{int(bad.sum())} value(s) {why}, e.g. {_examples(series[bad])}"
    )
    return _CastError("retyped", detail)


def _is_text(series: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def _to_number(series: pd.Series, dtype: DType) -> pd.Series:
    """float64 (or int64) values; raises _CastError naming values that are not numbers."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64") if series.hasnans else series
    if not _is_text(series):
        raise _CastError("retyped", f"expected {dtype} ({TARGET_DTYPES[dtype]}), arrived {series.dtype}")
    parsed = pd.to_numeric(series.astype(object), errors="coerce")
    bad = parsed.isna() & series.notna()
    if bad.any():
        raise _uncastable(series, bad, dtype)
    return parsed


def _cast_int(series: pd.Series) -> pd.Series:
    numbers = _to_number(series, "int")
    if pd.api.types.is_float_dtype(numbers):
        values = numbers.to_numpy(dtype="float64", na_value=np.nan)
        # A float column is fine when pandas widened it only to hold NaN: 3.0 is 3, 1.5 is not.
        bad = pd.Series(np.isfinite(values) & (values != np.floor(values)) | np.isinf(values))
        bad |= pd.Series(np.abs(np.nan_to_num(values)) >= 2.0**63)
        if bad.any():
            raise _uncastable(series, bad.set_axis(series.index), "int", "are not whole int64 numbers")
    try:
        return numbers.astype("Int64")
    except (TypeError, ValueError, OverflowError) as err:
        raise _CastError("retyped", f"expected int (Int64), arrived {series.dtype}: {err}") from err


def _cast_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    present = series.notna()
    if pd.api.types.is_numeric_dtype(series):
        bad = present & ~series.isin([0, 1])
        if bad.any():
            raise _uncastable(series, bad, "bool", "are not 0 or 1")
        return series.astype("float64").astype("boolean")
    if not _is_text(series):
        raise _CastError("retyped", f"expected bool (boolean), arrived {series.dtype}")
    mapped = series.astype(str).str.strip().str.lower().map(_BOOL_TOKENS).where(present)
    bad = present & mapped.isna()
    if bad.any():
        raise _uncastable(series, bad, "bool", "are not true/false")
    return mapped.astype("boolean")


def _cast_time(series: pd.Series, dtype: DType, pattern: str | None = None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    elif _is_text(series) and pattern:
        # The time column's own `time.format` (e.g. %d/%m/%Y): a slice's dates read as the whole column's.
        parsed = pd.to_datetime(series.astype(object), errors="coerce", format=pattern)
        bad = parsed.isna() & series.notna()
        if bad.any():
            raise _uncastable(series, bad, dtype, f"dates in format {pattern!r}")
    elif _is_text(series):
        with warnings.catch_warnings():
            # "Could not infer format": values that miss the inferred format become NaT below.
            warnings.simplefilter("ignore", UserWarning)
            # utc=True: offsets are converted (mixed offsets would otherwise give object dtype)
            # and naive text is read as UTC wall time, which the tz_localize(None) below keeps.
            text = series.astype(object)
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
            # Not ISO 8601 (e.g. 01/31/2011): one format inferred from what is left.
            rest = parsed.isna() & text.notna()
            if rest.any():
                parsed[rest] = pd.to_datetime(text[rest], errors="coerce", utc=True)
        bad = parsed.isna() & series.notna()
        if bad.any():
            raise _uncastable(series, bad, dtype, "are not dates")
    else:
        raise _CastError("retyped", f"expected {dtype} (datetime64[ns]), arrived {series.dtype}")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]")
    if dtype == "date":
        bad = parsed.notna() & (parsed != parsed.dt.normalize())
        if bad.any():
            raise _uncastable(series, bad, dtype, "have a time of day")
    return parsed


def _cast_str(series: pd.Series) -> pd.Series:
    present = series.notna()
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        if np.all(~np.isfinite(values) | (values == np.floor(values))):
            # A code column like 7, 12, NaN that pandas widened to float: "7", not "7.0".
            series = series.astype("Int64")
    elif _is_text(series) and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        odd = present & series.map(lambda v: isinstance(v, list | dict | set | tuple | bytes))
        if odd.any():
            detail = f"{int(odd.sum())} value(s) have no text form, e.g. {_examples(series[odd])}"
            raise _CastError("unparseable", detail)
    text = series.astype(str).to_numpy(dtype=object)
    text[~present.to_numpy()] = None
    return pd.Series(text, index=series.index, dtype=object)


def _cast(series: pd.Series, column: ColumnSpec, pattern: str | None = None) -> pd.Series:
    if column.dtype == "int":
        return _cast_int(series)
    if column.dtype == "float":
        return _to_number(series, "float").astype("float64")
    if column.dtype == "bool":
        return _cast_bool(series)
    if column.dtype in ("date", "datetime"):
        return _cast_time(series, column.dtype, pattern)
    return _cast_str(series)


def conform(frame: pd.DataFrame, spec: ProjectSpec) -> Conformed:
    """Spec columns in spec order with spec dtypes, then system columns ('_'-prefixed) as they came."""
    labels = [str(c) for c in frame.columns]
    counts = pd.Series(labels).value_counts()
    problems: list[SchemaProblem] = []
    for label, count in counts[counts > 1].items():
        problems.append(SchemaProblem(str(label), "extra", f"appears {count} times in the batch"))
    extras = [label for label in dict.fromkeys(labels) if label not in spec.columns]
    for name in spec.columns:
        if name not in counts.index:
            hint = did_you_mean(name, extras)
            problems.append(SchemaProblem(name, "missing", f"spec column absent from the batch{hint}"))
    for label in dict.fromkeys(labels):
        if label not in spec.columns and not label.startswith("_"):
            problems.append(SchemaProblem(label, "extra", "column is not in the spec"))
    source = frame.set_axis(labels, axis=1).reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    time = spec.time
    for name, column in spec.columns.items():
        if counts.get(name, 0) != 1:
            continue
        pattern = time.format if name == time.column and "%" in time.format else None
        try:
            out[name] = _cast(source[name], column, pattern)
        except _CastError as err:
            problems.append(SchemaProblem(name, err.kind, err.detail))
    if problems:
        return Conformed(frame=None, problems=tuple(problems))
    for label in labels:
        if label.startswith("_") and label not in spec.columns:
            out[label] = source[label]
    return Conformed(frame=pd.DataFrame(out, index=source.index), problems=())


def row_ids(frame: pd.DataFrame) -> np.ndarray:
    """Each row's `_row`: the system column when the reader numbered rows, else its position."""
    if ROW_ID in frame.columns:
        try:
            return frame[ROW_ID].to_numpy(dtype="int64")
        except (TypeError, ValueError) as err:
            raise ValueError(f"system column '{ROW_ID}' must hold whole row numbers: {err}") from err
    return np.arange(len(frame), dtype="int64")


def row_payloads(frame: pd.DataFrame) -> list[str]:
    """Each row as one JSON object: NaN/NA as null, timestamps ISO 8601."""
    if len(frame.columns) == 0:
        return ["{}"] * len(frame)
    if len(frame) == 0:
        return []
    labels = pd.Series([str(c) for c in frame.columns])
    # Duplicate labels would make to_json refuse the frame; suffix them (x, x.1, ...).
    labels = labels.where(~labels.duplicated(), labels + "." + labels.groupby(labels).cumcount().astype(str))
    text = frame.set_axis(list(labels), axis=1).to_json(
        orient="records", lines=True, date_format="iso", default_handler=str
    )
    lines = text.rstrip("\n").split("\n")
    if len(lines) != len(frame):
        raise RuntimeError(f"payload serialisation produced {len(lines)} lines for {len(frame)} rows")
    return lines


def quarantine_frame(
    partition: str, rows: np.ndarray, reasons: list[str], payloads: list[str]
) -> pd.DataFrame:
    """The quarantine table's rows: the same four columns for every project."""
    return pd.DataFrame(
        {
            PARTITION: pd.Series([partition] * len(rows), dtype=object),
            ROW_ID: pd.Series(rows, dtype="int64"),
            "reasons": pd.Series(reasons, dtype=object),
            "payload": pd.Series(payloads, dtype=object),
        },
        columns=list(QUARANTINE_COLUMNS),
    )


def quarantine_whole_batch(
    frame: pd.DataFrame, problems: tuple[SchemaProblem, ...] | list[SchemaProblem], partition: str
) -> pd.DataFrame:
    """Every row of a batch that failed conformance, each with all the structural reasons."""
    if not problems:
        raise ValueError(f"partition '{partition}': quarantining a whole batch needs at least one problem")
    reason = "; ".join(p.message for p in problems)
    return quarantine_frame(partition, row_ids(frame), [reason] * len(frame), row_payloads(frame))
