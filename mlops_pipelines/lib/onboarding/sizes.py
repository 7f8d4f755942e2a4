"""The windows `init` drafts for a file: training, drift, promotion and retraining sizes that
fit its partitions and rows per partition."""

from __future__ import annotations

import math
from typing import Any

# A drift window this much shorter than the median still gets a verdict (calendar months, DST days).
SHORT_WINDOW = 0.8
# Rows the gate compares challenger and champion on, whatever the partition size: the spec's
# default. Half a holdout of 7-row partitions (49) left a ROC-AUC interval of about +-0.1
# against a 5 % margin of 0.04, so no fresh model could show non-inferiority; with 200 the
# evaluation reaches back further (`training.window.evaluation_size`) instead.
GATE_ROWS = 200


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, value)))


def sizes(partitions: int, rows_per_partition: float) -> dict[str, dict[str, Any]]:
    """Training, drift, promotion and retraining windows that fit `partitions` partitions.

    The drift window holds about 30 rows at the median partition size; its `min_rows` leaves
    room below that for the calendar (a February of daily rows is 10 % shorter than the median
    month, which at 30 gave every February no verdict), not for a half-empty window."""
    window = _clamp(partitions // 2, 2, 90)
    holdout = _clamp(partitions // 8, 1, 14)
    per = max(rows_per_partition, 1.0)
    current = _clamp(math.ceil(30 / per), 1, 7)
    return {
        "training": {"window_partitions": window, "holdout_partitions": holdout},
        "drift": {
            "current_window_partitions": current,
            "min_rows": _clamp(SHORT_WINDOW * per * current, 1, 30),
        },
        "promotion": {"min_rows": GATE_ROWS},
        "retraining": {"performance_min_rows": _clamp(per, 5, 30)},
    }
