"""Pure fault injectors: the ways a real batch goes bad, reproducible on demand.

Used by tests of every stage (validation, drift, serving) and by the simulator's bad batches.
Each injector returns a new frame and never mutates its input.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

FaultKind = Literal[
    "missing_column",
    "extra_column",
    "retyped",
    "all_null",
    "out_of_range",
    "unseen_category",
    "duplicates",
    "empty",
    "nulls",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

# Faults that pick rows at random: an empty frame has none to pick, which is a caller error.
_ROW_FAULTS = frozenset({"nulls", "out_of_range", "unseen_category", "duplicates"})
# Faults that need `column` to exist already.
_COLUMN_FAULTS = frozenset(
    {"missing_column", "retyped", "all_null", "out_of_range", "unseen_category", "nulls"}
)


def unseen_value(column: str) -> str:
    """The category value `unseen_category` writes: recognisable in quarantine reports."""
    return f"__unseen_{column}__"


def _pick_rows(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    count = min(n, max(1, round(share * n)))
    return np.sort(rng.choice(n, size=count, replace=False))


def _null_of(series: pd.Series) -> object:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.NaT
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return np.nan
    return None


def _set_rows(series: pd.Series, rows: np.ndarray, values: object) -> pd.Series:
    out = series.copy()
    # Positional assignment; upcasts (int -> float for NaN) are part of the fault.
    out.iloc[rows] = values
    return out


def _out_of_range(series: pd.Series, column: str, rows: np.ndarray) -> pd.Series:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ValueError(f"out_of_range needs a numeric column; '{column}' is {series.dtype}")
    low, high = float(series.min()), float(series.max())
    if np.isnan(low):
        low = high = 0.0
    # Far beyond the observed values on both sides, so a bound on either side is violated
    # whatever the declared min/max, as long as they enclose the normal data.
    offset = 10.0 * (high - low + abs(high) + abs(low) + 1.0)
    values = np.where(np.arange(len(rows)) % 2 == 0, high + offset, low - offset)
    if pd.api.types.is_integer_dtype(series):
        values = np.round(values).astype(np.int64)
    return _set_rows(series, rows, values)


def _retyped(series: pd.Series, rows: np.ndarray) -> pd.Series:
    # A numeric column arriving as text: mostly clean numbers as strings, some junk.
    text = series.astype("object").where(series.isna(), series.astype(str))
    junk = [f"{text.iloc[r]}x" if i % 2 == 0 else "n/a" for i, r in enumerate(rows)]
    out = text.copy()
    out.iloc[rows] = junk
    return out.astype("object")


def _duplicates(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    # Each copy sits right after its original, as a re-sent record would.
    positions = np.sort(np.concatenate([np.arange(len(frame)), rows]), kind="stable")
    return frame.iloc[positions].reset_index(drop=True)


def inject_fault(
    frame: pd.DataFrame,
    kind: FaultKind,
    column: str,
    rng: np.random.Generator | None = None,
    share: float = 0.1,
) -> pd.DataFrame:
    """A copy of `frame` with one fault of `kind` in `column`.

    - missing_column: `column` dropped.
    - extra_column: a column not in the schema added, named `column` if that name is free,
      else `<column>_extra`; random floats.
    - retyped: `column` as text (object dtype); a `share` of rows get junk ('0.24x', 'n/a').
    - all_null: every value of `column` null.
    - out_of_range: a `share` of rows far above the max / below the min (numeric columns).
    - unseen_category: a `share` of rows set to `unseen_value(column)` (text columns).
    - duplicates: a `share` of rows repeated right after the original (`column` unused).
    - empty: no rows, same columns and dtypes (`column` unused).
    - nulls: a `share` of rows of `column` null.

    `share` picks at least one row. `rng` defaults to a fixed seed, so faults are reproducible.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind '{kind}'; expected one of {list(FAULT_KINDS)}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if kind in _COLUMN_FAULTS and column not in frame.columns:
        raise ValueError(f"cannot inject '{kind}': column '{column}' not in frame {list(frame.columns)}")
    if kind in _ROW_FAULTS and frame.empty:
        raise ValueError(f"cannot inject '{kind}' into '{column}': the frame has no rows")
    rng = rng if rng is not None else np.random.default_rng(0)
    out = frame.copy()
    if kind == "missing_column":
        return out.drop(columns=[column])
    if kind == "extra_column":
        name = column if column not in out.columns else f"{column}_extra"
        out[name] = rng.random(len(out))
        return out
    if kind == "empty":
        return out.iloc[0:0].copy()
    if kind == "all_null":
        out[column] = pd.Series(
            [_null_of(out[column])] * len(out), index=out.index, dtype=_null_dtype(out[column])
        )
        return out
    if kind == "retyped":
        rows = _pick_rows(len(out), share, rng) if len(out) else np.array([], dtype=int)
        out[column] = _retyped(out[column], rows)
        return out
    rows = _pick_rows(len(out), share, rng)
    if kind == "duplicates":
        return _duplicates(out, rows)
    if kind == "out_of_range":
        out[column] = _out_of_range(out[column], column, rows)
    elif kind == "unseen_category":
        if pd.api.types.is_numeric_dtype(out[column]):
            raise ValueError(f"unseen_category needs a text column; '{column}' is {out[column].dtype}")
        out[column] = _set_rows(out[column].astype("object"), rows, unseen_value(column))
    else:  # nulls
        series = out[column]
        if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
            series = series.astype("float64" if pd.api.types.is_integer_dtype(series) else "object")
        out[column] = _set_rows(series, rows, _null_of(series))
    return out


def _null_dtype(series: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime64[ns]"
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "float64"
    return "object"
