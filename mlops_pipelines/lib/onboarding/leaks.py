"""Categorical features that decide a class label: recorded after the outcome, not before it.

Hotel Booking's `reservation_status` (Check-Out, Canceled, No-Show) names `is_canceled` in every
row; kept as a feature it scores every backtest ROC-AUC 1.0 and serves nothing, since it is not
known when a booking is made. `profile.flag_leaks` excludes what `deciding_categories` finds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# The share of rows whose label is the majority label of their category. 98 % is a strong
# feature (a deposit type, a grade); 99.9 % is a column written from the outcome.
LEAK_PURITY = 0.999
# Below this many rows (both values present) a pure split is as likely chance as a leak.
LEAK_MIN_ROWS = 200
# Categories of a handful of rows are pure by chance: a leak has rows to spare in each.
ROWS_PER_CATEGORY = 20
# On a label nearly always the same (fraud in 0.05 % of rows) any column looks 99.9 % pure; a
# leak must also fix nearly all of what guessing the majority label gets wrong.
BASELINE_ERRORS_LEFT = 0.1


def deciding_categories(frame: pd.DataFrame, label: str, names: Iterable[str]) -> dict[str, float]:
    """The columns among `names` whose category gives `label` in at least LEAK_PURITY of the rows
    where both are present, with that purity (sum over categories of the majority label's rows,
    over the rows). One factorize and one bincount a column: fast on millions of rows."""
    label_codes, label_values = pd.factorize(frame[label])
    found: dict[str, float] = {}
    if len(label_values) < 2:
        return found
    for name in names:
        codes, categories = pd.factorize(frame[name])
        both = (codes >= 0) & (label_codes >= 0)
        rows = int(both.sum())
        if rows < LEAK_MIN_ROWS:
            continue
        cells = codes[both].astype("int64") * len(label_values) + label_codes[both]
        table = np.bincount(cells, minlength=len(categories) * len(label_values))
        table = table.reshape(len(categories), len(label_values))
        used = int((table.sum(axis=1) > 0).sum())
        if used < 2 or used * ROWS_PER_CATEGORY > rows:
            continue
        wrong = rows - int(table.max(axis=1).sum())
        baseline_wrong = rows - int(table.sum(axis=0).max())
        if baseline_wrong == 0:  # one label in these rows: nothing to decide
            continue
        if wrong <= (1 - LEAK_PURITY) * rows and wrong <= BASELINE_ERRORS_LEFT * baseline_wrong:
            found[name] = 1 - wrong / rows
    return found
