"""How many periods of a grain a span of time touches, and how many of them an outage took.

The grain `init` drafts must have rows in most of its periods (`draft.MIN_FILL`): partitions
empty here and there are blocked runs scattered through the replay, noise for every window.
A long outage is different: one stretch of empty partitions the loop steps over, after which
the data is as dense as before. Metro traffic's ten months without a row (of six years of
hourly rows) left no grain finer than quarterly "dense", 22 partitions of 2400 rows; counted
apart, the outage leaves weekly partitions of about 180 rows, full everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pandas as pd

# An empty run counts as an outage from this many periods on, and from this share of the span.
OUTAGE_PERIODS = 7
OUTAGE_SHARE = 0.02
# Outages may take at most this share of the span: beyond it the data is sparse, not interrupted.
MAX_OUTAGE_SHARE = 0.5


def periods(first: pd.Timestamp, last: pd.Timestamp, grain: str) -> int:
    """How many periods of `grain` the span first..last touches."""
    months = (last.year - first.year) * 12 + last.month - first.month
    return {
        "hourly": int((last.floor("h") - first.floor("h")) / pd.Timedelta(hours=1)) + 1,
        "daily": (last.normalize() - first.normalize()).days + 1,
        "weekly": (last.normalize() - first.normalize()).days // 7 + 1,
        "monthly": months + 1,
        "quarterly": months // 3 + 1,
        "yearly": last.year - first.year + 1,
    }[grain]


def outage_periods(keys: Sequence[str], grain: str) -> int:
    """Empty periods between the partitions holding rows (`keys`, sorted start times of one grain)
    that lie in runs long enough to be outages: at least OUTAGE_PERIODS and OUTAGE_SHARE of the
    span. 0 when such runs would take more than MAX_OUTAGE_SHARE of it."""
    if len(keys) < 2:
        return 0
    starts = [pd.Timestamp(k) for k in keys]
    index = [periods(starts[0], s, grain) - 1 for s in starts]
    total = index[-1] + 1
    longest = max(OUTAGE_PERIODS, OUTAGE_SHARE * total)
    runs = [b - a - 1 for a, b in pairwise(index)]
    out = sum(r for r in runs if r >= longest)
    return out if out <= MAX_OUTAGE_SHARE * total else 0
