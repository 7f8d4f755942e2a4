"""One column's profile: its spec dtype, range or categories, and flags with the reasons.

Flags (see `profile.py` for how `init` uses them): ID-like (one distinct value per row, or an 'id'
name with nearly so), counter (numbers rising or falling with every row, most of them distinct:
elapsed time, a position), constant, near-constant (one value in at least 99 % of rows), sensitive
(named like an attribute fairness is checked on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NEAR_CONSTANT = 0.99
MAX_CATEGORIES = 30
_ID_NAME = re.compile(r"(^|_)(id|uuid|key|index|instant|row)($|_)|id$")
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
    # "id", "counter", "constant", "near_constant", "leak", "sensitive"
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why, for the spec's comments


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


def _monotone(values: pd.Series) -> bool:
    return bool(values.is_monotonic_increasing or values.is_monotonic_decreasing)


def profile_column(name: str, values: pd.Series) -> ColumnProfile:
    """The column's spec dtype, range or categories, and its flags with the notes saying why."""
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
    elif dtype in ("int", "float") and unique_share >= 0.5 and len(present) > 20 and _monotone(present):
        # Seconds since the first row (a fraud file's `Time`): it says when a row came, and a
        # model splitting on it has only its newest bin for every future row.
        found.flags.append("counter")
        found.notes.append(
            f"a counter in file order: rises or falls with every row ({distinct} distinct values)"
        )
    if SENSITIVE.search(name):
        found.flags.append("sensitive")
    return found
