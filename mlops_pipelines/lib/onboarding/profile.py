"""Profile one data file: how to read it, each column's type and flags, the time axis, the task.

Everything `init` writes into a spec is decided here from the data alone; `draft.py` turns the
`Profile` into commented YAML. Detection rules (each documented where it is applied):
columns are ID-like (one distinct value per row, or an 'id' name with nearly so), constant,
near-constant (one value in at least 99 % of rows) or target-leaking (equal to the target, a
near-perfect correlation, two columns that add up to it, or a category that names the class:
`leaks.py`); the time axis comes from `time_detect.py`. Without --target, the target is a column
named like one, else the last column; never a time, an ID or a constant (`guess_target`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.ingestion.columns import normalize_column_name
from mlops_pipelines.lib.onboarding.column_profile import MAX_CATEGORIES, ColumnProfile, profile_column
from mlops_pipelines.lib.onboarding.leaks import deciding_categories
from mlops_pipelines.lib.onboarding.reading import mark_label_codes, read_any
from mlops_pipelines.lib.onboarding.time_detect import TimeAxis, detect_time
from mlops_pipelines.lib.time_axis import TimeAxisError, is_clock

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
    target_note: str | None = None  # how the target was guessed; None when --target named it


def _axis_columns(axis: TimeAxis) -> list[str]:
    return [c for c in (axis.column, axis.month_column, axis.day_column, axis.hour_column) if c]


def _not_a_target(frame: pd.DataFrame, name: str, timed: set[str]) -> str | None:
    """Why `name` cannot be a guessed target, or None. A time would draft a task on dates (Hotel
    Booking's last column, `reservation_status_date`), an ID or a constant one nothing can learn."""
    values = frame[name]
    if name in timed or is_clock(values):
        return "a date or time"
    try:
        if detect_time(frame[[name]], None).column is not None:
            return "a date or time"
    except TimeAxisError:  # reads as times, though not all of them parse: no label either
        return "a date or time"
    flags = profile_column(name, values).flags
    return "constant" if "constant" in flags else "ID-like" if "id" in flags else None


def guess_target(
    frame: pd.DataFrame, axis: TimeAxis | None = None, file: str = "the file"
) -> tuple[str, str]:
    """The target when none is given, and a line saying how it was guessed: a usable column named
    like a target (target, label, class, y, ...), else the last usable column. Raises ValueError
    when no column can be one."""
    names = [str(c) for c in frame.columns]
    timed = set(_axis_columns(axis)) if axis else set()
    unusable: dict[str, str] = {}

    def usable(name: str) -> bool:
        why = unusable.get(name) or _not_a_target(frame, name, timed)
        if why:
            unusable[name] = why
        return why is None

    choose = "; pass --target COL to choose)"
    named = next((n for n in _TARGET_NAMES if n in names and usable(n)), None)
    if named:
        return named, f"target: {named} (guessed: a target-like column name{choose}"
    found = next((n for n in reversed(names) if usable(n)), None)
    if found is None:
        listed = ", ".join(f"{n} ({unusable[n]})" for n in names)
        raise ValueError(
            f"no column of {file} can be guessed as the target: {listed}; pass --target COL to name it"
        )
    tried = [f"{n} is {unusable[n]}" for n in _TARGET_NAMES if n in unusable]
    lead = (
        f"no usable target-like column name ({', '.join(tried)})" if tried else "no target-like column name"
    )
    after = [f"{n} is {unusable[n]}" for n in names[names.index(found) + 1 :]]
    passed = f"; after it, {', '.join(after)}" if after else ""
    return found, f"target: {found} (guessed: {lead}, so the last usable column{passed}{choose}"


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


def flag_leaks(
    frame: pd.DataFrame, target: str, columns: dict[str, ColumnProfile], task: str, skip: Iterable[str] = ()
) -> None:
    """Mark columns that give the target away: equal to it, near-perfectly correlated, a pair that
    adds up to it (bike_sharing's casual + registered = cnt), or for a class label a category
    that names it (Hotel Booking's reservation_status). `skip`: the time axis's columns."""
    y, skipped = frame[target], set(skip)
    numeric = [
        c
        for c, p in columns.items()
        if c != target and p.dtype in ("int", "float") and not {"id", "constant"} & set(p.flags)
    ]
    for name in columns:
        if name != target and frame[name].astype(str).equals(y.astype(str)):
            columns[name].flags.append("leak")
            columns[name].notes.append("target leak: a copy of the target")
    if task != "regression":
        categorical = [
            c
            for c, p in columns.items()
            if c != target
            and c not in skipped
            and (p.dtype in ("str", "bool") or p.distinct <= MAX_CATEGORIES)
            and not {"id", "constant", "leak"} & set(p.flags)
        ]
        for name, purity in deciding_categories(frame, target, categorical).items():
            columns[name].flags.append("leak")
            columns[name].notes.append(
                f"suspected target leak: its value decides '{target}' in {purity:.2%} of rows; "
                "to keep it as a feature, remove it from features.exclude"
            )
        return
    if not pd.api.types.is_numeric_dtype(y):
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

    given = resolve(target, "target") if target else None
    wanted = resolve(time, "time") if time else None
    note = None
    if given:
        target = given
        codes = mark_label_codes(read, target)
        axis = detect_time(frame, wanted)
    else:  # the axis first: its columns cannot be the target (a code in the target never moves it)
        axis = detect_time(frame, wanted)
        target, note = guess_target(frame, axis, path.name)
        codes = mark_label_codes(read, target)
    columns = {name: profile_column(name, frame[name]) for name in frame.columns}
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
    flag_leaks(frame, target, columns, task, skip=_axis_columns(axis))
    text_time = axis.format == "auto" or "%" in axis.format
    if axis.column is not None and text_time and columns[axis.column].dtype == "str":
        from mlops_pipelines.lib.time_axis import parse_time_axis
        from mlops_pipelines.spec_time import TimeSpec

        own = parse_time_axis(frame, TimeSpec(column=axis.column, format=axis.format))  # no hour added
        columns[axis.column].dtype = "date" if bool((own == own.dt.normalize()).all()) else "datetime"
        columns[axis.column].categories = None
    for name in _axis_columns(axis):
        columns[name].flags = [f for f in columns[name].flags if f not in ("id", "counter", "constant")]
        columns[name].notes = [
            n for n in columns[name].notes if not n.startswith(("ID-like", "a counter", "constant"))
        ]
    duplicates = int(frame.duplicated().sum())
    for name in read.percent:
        columns[name].notes.append("percentages ('10.65%') read as numbers (source.files[].percent)")
    return Profile(
        path,
        kind,
        options,
        len(frame),
        columns,
        target,
        task,
        axis,
        duplicates,
        read.empty,
        read.percent,
        target_note=note,
    )
