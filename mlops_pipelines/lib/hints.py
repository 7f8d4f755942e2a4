"""'Did you mean ...?' for a column name that is not there: the near misses a person would mean."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def _key(name: str) -> str:
    return _NON_ALNUM.sub("", name.lower())


def near_misses(name: str, candidates: Iterable[str], limit: int = 1) -> list[str]:
    """Candidates that differ from `name` only in case and punctuation first, then close spellings."""
    pool = [str(c) for c in candidates if str(c) != name]
    same = [c for c in pool if _key(c) == _key(name)]
    if len(same) >= limit:
        return same[:limit]
    wanted = _key(name)
    by_key = {_key(c): c for c in pool if c not in same}

    def score(key: str) -> float:
        ratio = difflib.SequenceMatcher(None, wanted, key).ratio()
        prefix = len(os.path.commonprefix([wanted, key]))
        return max(ratio, 0.6 if prefix >= 4 else 0.0)  # 'temperature' and 'temp_c'

    ranked = sorted((k for k in by_key if score(k) >= 0.6), key=score, reverse=True)
    return same + [by_key[k] for k in ranked[: limit - len(same)]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the nearest candidate, or "" when none is near."""
    found = near_misses(name, candidates)
    return f"; did you mean '{found[0]}'?" if found else ""
