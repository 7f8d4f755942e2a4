"""Profile one data file: how to read it, each column's type and flags, the time axis, the task.

Everything `init` writes into a spec is decided here from the data alone; `draft.py` turns the
`Profile` into commented YAML. Detection rules (each documented where it is applied):
columns are ID-like (one distinct value per row, or an 'id' name with nearly so), constant,
near-constant (one value in at least 99 % of rows) or target-leaking (equal to the target, a
near-perfect correlation, or two columns that add up to it); the time axis comes from
`time_detect.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.ingestion.columns import normalize_column_name
from mlops_pipelines.lib.onboarding.reading import mark_label_codes, read_any
from mlops_pipelines.lib.onboarding.time_detect import TimeAxis, detect_time

NEAR_CONSTANT = 0.99
MAX_CATEGORIES = 30
_ID_NAME = re.compile(r"(^|_)(id|uuid|key|index|instant|row)($|_)|id$")
_CLASS_NAME = re.compile(r"(^|_)(class|classes|type|label|category|kind|species|genre)($|_)")
# Most telling first: a file with both 'y' and 'target' means 'target'.
_TARGET_NAMES = (
    "target",
    "label",
    "labels",
    "class",
    "outcome",
    "y",
    "churn",
    "default",
    "quality",
    "cnt",
    "count",
    "price",
)
SENSITIVE = re.compile(
    r"(^|_)(sex|gender|race|ethnic\w*|religion|age|marital\w*|nationality|native_country|country|"
    r"disab\w*|pregnan\w*|sexual\w*|relationship)($|_)"
)


@dataclass
class ColumnProfile:
    name: str
    dtype: str  # the spec dtype: int float str bool date datetime
    nulls: int
    distinct: int
    categories: list[str] | None = None
    low: float | None = None
    high: float | None = None
    flags: list[str] = field(default_factory=list)  # "id", "constant", "near_constant", "leak", "sensitive"
    notes: list[str] = field(default_factory=list)  # why, for the spec's comments


@dataclass
class Profile:
    path: Path
    kind: str
    read_options: dict[str, Any]
    rows: int
    columns: dict[str, ColumnProfile]
    target: str
    task: str
    time: TimeAxis
    duplicate_rows: int
    empty_columns: list[str] = field(default_factory=list)  # left out of the spec: no value at all
    percent: list[str] = field(default_factory=list)  # '10.65%' columns, read as numbers


def _spec_dtype(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        whole = len(present) > 0 and bool(np.all(present == np.floor(present)))
        return "int" if whole else "float"
    return "str"


def _profile_column(name: str, values: pd.Series) -> ColumnProfile:
    dtype = _spec_dtype(values)
    present = values.dropna()
    distinct = int(present.nunique())
    found = ColumnProfile(name, dtype, int(values.isna().sum()), distinct)
    if dtype in ("int", "float") and len(present):
        found.low, found.high = float(present.min()), float(present.max())
    if dtype == "str" and distinct <= MAX_CATEGORIES:
        found.categories = sorted(present.astype(str).unique().tolist())
    if len(values) and distinct <= 1:
        found.flags.append("constant")
        found.notes.append("constant: one value in every row")
    elif len(present) and present.value_counts(normalize=True).iloc[0] >= NEAR_CONSTANT:
        top = present.value_counts(normalize=True)
        value = top.index[0]
        value = value.item() if hasattr(value, "item") else value  # 0, not np.int64(0), in the note
        found.flags.append("near_constant")
        found.notes.append(f"near-constant: {value!r} in {top.iloc[0]:.1%} of rows")
    unique_share = distinct / max(len(values), 1)
    id_like = unique_share >= 0.999 or (_ID_NAME.search(name) and unique_share >= 0.5)
    if dtype in ("int", "str") and id_like and len(values) > 20:
        found.flags.append("id")
        found.notes.append(f"ID-like: {distinct} distinct values in {len(values)} rows")
    if SENSITIVE.search(name):
        found.flags.append("sensitive")
    return found


def guess_target(frame: pd.DataFrame) -> str:
    """A column named like a target (target, label, class, y, ...), else the last column."""
    names = [str(c) for c in frame.columns]
    return next((n for n in _TARGET_NAMES if n in names), names[-1])


def guess_task(values: pd.Series, name: str = "") -> str:
    """binary for two values; regression for numbers, unless a few whole numbers in a column named
    like a class (Cover_Type 1..7: codes of classes, not quantities); else multiclass."""
    present = values.dropna()
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    distinct = present.nunique()
    if numeric and distinct > 2:
        whole = bool(np.all(present == np.floor(present)))
        return (
            "multiclass"
            if whole and distinct <= MAX_CATEGORIES and _CLASS_NAME.search(name)
            else "regression"
        )
    return "binary" if distinct <= 2 else "multiclass"


def flag_leaks(frame: pd.DataFrame, target: str, columns: dict[str, ColumnProfile], task: str) -> None:
    """Mark columns that give the target away: equal to it, near-perfectly correlated, or a pair
    that adds up to it (bike_sharing's casual + registered = cnt)."""
    y = frame[target]
    numeric = [
        c
        for c, p in columns.items()
        if c != target and p.dtype in ("int", "float") and not {"id", "constant"} & set(p.flags)
    ]
    for name in columns:
        if name != target and frame[name].astype(str).equals(y.astype(str)):
            columns[name].flags.append("leak")
            columns[name].notes.append("target leak: a copy of the target")
    if task != "regression" or not pd.api.types.is_numeric_dtype(y):
        return
    for name in numeric:
        corr = frame[name].corr(y.astype("float64"))
        if pd.notna(corr) and abs(corr) >= 0.99 and "leak" not in columns[name].flags:
            columns[name].flags.append("leak")
            columns[name].notes.append(f"suspected target leak: correlation {corr:.3f} with '{target}'")
    values = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in numeric[:60]}
    target_values = y.to_numpy(dtype="float64", na_value=np.nan)
    names = list(values)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if np.nanmean(np.isclose(values[a] + values[b], target_values)) >= 0.99:
                for name, other in ((a, b), (b, a)):
                    if "leak" not in columns[name].flags:
                        columns[name].flags.append("leak")
                        columns[name].notes.append(f"target leak: {name} + {other} = {target}")


def profile_file(path: Path, target: str | None = None, time: str | None = None) -> Profile:
    """Profile `path`; `target` and `time` name columns (as the file or the spec spells them)."""
    read = read_any(path)
    kind, options, frame = read.kind, read.options, read.frame

    def resolve(name: str, role: str) -> str:
        from mlops_pipelines.lib.hints import did_you_mean

        if name in frame.columns:
            return name
        if normalize_column_name(name) in frame.columns:
            return normalize_column_name(name)
        raise ValueError(
            f"{role} column '{name}' not in {path.name}{did_you_mean(name, map(str, frame.columns))}"
        )

    target = resolve(target, "target") if target else guess_target(frame)
    codes = mark_label_codes(read, target)
    axis = detect_time(frame, resolve(time, "time") if time else None)
    columns = {name: _profile_column(name, frame[name]) for name in frame.columns}
    if codes:
        columns[target].notes.append(
            f"{codes} read as missing (read_options.na_values): a missing-value code, far from every other label"
        )
    task = guess_task(frame[target], target)
    labels = frame[target].dropna()
    if task == "regression" and labels.nunique() <= 10 and bool(np.all(labels == np.floor(labels))):
        columns[target].notes.append(
            f"{labels.nunique()} whole numbers: if they name classes, set task: multiclass "
            "(and primary_metric: accuracy)"
        )
    flag_leaks(frame, target, columns, task)
    text_time = axis.format == "auto" or "%" in axis.format
    if axis.column is not None and text_time and columns[axis.column].dtype == "str":
        from mlops_pipelines.lib.time_axis import parse_time_axis
        from mlops_pipelines.spec_time import TimeSpec

        own = parse_time_axis(frame, TimeSpec(column=axis.column, format=axis.format))  # no hour added
        columns[axis.column].dtype = "date" if bool((own == own.dt.normalize()).all()) else "datetime"
        columns[axis.column].categories = None
    for name in axis.column, axis.month_column, axis.day_column, axis.hour_column:
        if name:
            columns[name].flags = [f for f in columns[name].flags if f not in ("id", "constant")]
            columns[name].notes = [
                n for n in columns[name].notes if not n.startswith(("ID-like", "constant"))
            ]
    duplicates = int(frame.duplicated().sum())
    for name in read.percent:
        columns[name].notes.append("percentages ('10.65%') read as numbers (source.files[].percent)")
    return Profile(
        path, kind, options, len(frame), columns, target, task, axis, duplicates, read.empty, read.percent
    )
