"""Match a file's column names to the spec's: case and punctuation never make a column vanish.

With `source.normalize_column_names` (the default) a data column takes the spec's spelling of
the column it matches exactly, else of the one it matches ignoring case and punctuation
('Fixed Acidity' and 'fixed_acidity', 'TEMP' and 'temp', 'pH' and 'ph'); a column that matches
no spec column is normalized ('Wind Speed' -> 'wind_speed'). So a spec may spell its columns
as the data does (upper case included) or in snake case: both match. Two data columns that
match the same name are an error naming both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]+")


class ColumnMatchError(ValueError):
    """Data columns that cannot be told apart once matched; the message names them."""


def normalize_column_name(name: object) -> str:
    """'fixed acidity' -> 'fixed_acidity', 'pH' -> 'ph'."""
    return _NON_ALNUM.sub("_", str(name)).strip("_").lower()


def matched_names(labels: Sequence[object], spec_columns: Iterable[str], where: str) -> list[str]:
    """The name each of `labels` takes: see the module docstring."""
    wanted = list(spec_columns)
    exact = set(wanted)
    loose: dict[str, list[str]] = {}
    for name in wanted:
        loose.setdefault(normalize_column_name(name), []).append(name)
    names = []
    for label in labels:
        text = str(label)
        key = normalize_column_name(text)
        if text in exact:
            names.append(text)
        elif len(loose.get(key, [])) == 1:
            names.append(loose[key][0])
        else:
            names.append(key)
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        pairs = [
            f"{[str(lab) for lab, n in zip(labels, names, strict=True) if n == c]} -> '{c}'" for c in clashes
        ]
        raise ColumnMatchError(
            f"{where}: columns collide after normalization: {'; '.join(pairs)} (rename one, or set "
            "source.normalize_column_names: false and name the columns exactly as the file does)"
        )
    return names
