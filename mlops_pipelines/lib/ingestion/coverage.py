"""Where a dataset's rows fall among a project's partitions: rows per partition, rows outside.

The demo refuses to replay data none of whose rows falls in a partition (a time axis read
wrongly, or partitions that miss the data); `validate-spec --data` prints the whole picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.grains import partition_keys

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class Coverage:
    keys: tuple[str, ...]  # the project's partition keys, in order
    rows: dict[str, int]  # rows of each non-empty partition, in key order
    before: int  # rows earlier than the first partition
    after: int  # rows later than the last partition
    first_time: str | None  # the earliest and latest event time read (ISO), None without rows
    last_time: str | None

    @property
    def non_empty(self) -> int:
        return len(self.rows)

    def sizes(self) -> tuple[int, float, int] | None:
        """Rows per non-empty partition: min, median, max."""
        if not self.rows:
            return None
        counts = np.fromiter(self.rows.values(), dtype="int64")
        return int(counts.min()), float(np.median(counts)), int(counts.max())

    def outside(self) -> str | None:
        """A sentence about rows no partition holds, or None when every row is in one."""
        if not (self.before or self.after):
            return None
        span = f"{self.keys[0]}..{self.keys[-1]}" if self.keys else "(none)"
        return (
            f"{self.before} row(s) fall before and {self.after} after the partitions {span}; no run "
            "reads them (partitions.start / partitions.end)"
        )


def time_axis_text(spec: ProjectSpec) -> str:
    time = spec.time
    if time.column is None:
        assert time.arrival is not None
        return f"arrival order from {time.arrival.start} every {time.arrival.cadence}"
    extra = "".join(f" + {c}" for c in (time.month_column, time.day_column, time.hour_column) if c)
    return f"column '{time.column}'{extra} (format {time.format})"


def coverage(frame: pd.DataFrame, spec: ProjectSpec, keys: Sequence[str]) -> Coverage:
    """How the rows of `frame` (with EVENT_TIME) fall among `keys` (the spec's partitions)."""
    keyed = partition_keys(frame[EVENT_TIME], spec.partitions.grain.value, spec.partitions.week_start)
    counts = keyed.value_counts()
    rows = {k: int(counts[k]) for k in keys if k in counts.index}
    before = int((keyed < keys[0]).sum()) if keys else len(keyed)
    after = int((keyed > keys[-1]).sum()) if keys else 0
    times = frame[EVENT_TIME]
    first = None if times.empty else times.min().isoformat()
    last = None if times.empty else times.max().isoformat()
    return Coverage(tuple(keys), rows, before, after, first, last)


def coverage_problem(found: Coverage, spec: ProjectSpec) -> str | None:
    """The error when no row falls in any partition (every run would see an empty batch)."""
    if found.non_empty:
        return None
    span = f"{found.keys[0]}..{found.keys[-1]}" if found.keys else "none (check partitions.start/end)"
    if found.first_time is None:
        return f"{spec.name}: the source holds no rows"
    return (
        f"{spec.name}: no row falls in any of the {len(found.keys)} {spec.partitions.grain.value} "
        f"partitions {span}: the time axis, {time_axis_text(spec)}, reads {found.first_time} .. "
        f"{found.last_time} ({found.before} row(s) before the partitions, {found.after} after). "
        "Check time.column and time.format (year, epoch_s, epoch_ms, ...) and partitions.start/end"
    )
