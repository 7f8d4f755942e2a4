"""Months written as names: a month column of "July" or "Jul" reads as 7.

Public files key time by year, month and day columns, and some write the month as an English
name (Hotel Booking Demand's `arrival_date_month`). `init` detects such a column and ingestion
reads it, both through `month_numbers`, so what `init` drafts parses the same way later.
"""

from __future__ import annotations

import pandas as pd

_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
# Full names, three-letter abbreviations and the common "sept"; matched without case or
# surrounding blanks or a trailing dot ("Sep.").
MONTHS: dict[str, int] = {
    **{name: number for number, name in enumerate(_NAMES, start=1)},
    **{name[:3]: number for number, name in enumerate(_NAMES, start=1)},
    "sept": 9,
}


def month_numbers(values: pd.Series) -> pd.Series:
    """`values` with every month name replaced by its number (1..12); anything else is left as it
    is, so that a caller checking for whole numbers 1..12 names the value that is neither."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    distinct = pd.Series(values.dropna().unique())
    keys = distinct.astype(str).str.strip().str.rstrip(".").str.lower()
    found = {value: MONTHS[key] for value, key in zip(distinct, keys, strict=True) if key in MONTHS}
    if not found:
        return values
    # Mapping the distinct values, not the rows: a file holds millions of rows, 12 names.
    mapped = values.map(found)
    return mapped.where(mapped.notna(), values)
