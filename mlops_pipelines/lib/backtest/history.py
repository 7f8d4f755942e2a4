"""A project's whole history as one ordered features table, for offline replays.

The backtest replays what the loop would have done partition by partition without Dagster
runs or a lake: it reads the source once, types it with the same `conform`, keys each row to
its partition with the same vectorised `partition_keys` the prediction log uses, and builds
the same features table (`feature_table`). Rows the loop's validation would quarantine for a
missing label are left out here too (and counted), since nothing can be trained or scored on
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlops_pipelines.lib.features import build_target, feature_kinds, feature_table
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec


class HistoryError(ValueError):
    """A history that cannot be replayed; the message names the problem and the counts."""


@dataclass(frozen=True)
class History:
    spec: ProjectSpec
    keys: tuple[str, ...]  # partitions that hold rows, in time order
    table: pd.DataFrame  # the features table, rows in (time, partition, row) order, index 0..n-1
    starts: np.ndarray  # row offset of each key's first row; starts[len(keys)] == len(table)
    dropped_rows: int  # rows without a label (left out, as validation would quarantine them)

    def rows(self, first: int, last: int) -> pd.DataFrame:
        """The rows of partitions first..last (indexes into `keys`, inclusive)."""
        return self.table.iloc[int(self.starts[first]) : int(self.starts[last + 1])]

    def features(self, first: int, last: int) -> pd.DataFrame:
        return self.rows(first, last)[list(feature_kinds(self.spec))]

    def target(self, first: int, last: int) -> pd.Series:
        return build_target(self.rows(first, last), self.spec)

    def size(self, index: int) -> int:
        return int(self.starts[index + 1] - self.starts[index])

    @cached_property
    def class_counts(self) -> dict[int, dict[str, int]]:
        """A classifier's rows of each class per partition (index into `keys`), counted once."""
        target = build_target(self.table, self.spec).astype(str)
        codes = np.repeat(np.arange(len(self.keys)), np.diff(self.starts))
        table = pd.crosstab(codes, target.to_numpy())
        classes = [str(c) for c in table.columns]
        return {
            int(i): {c: int(n) for c, n in zip(classes, row, strict=True) if n}
            for i, row in zip(table.index, table.to_numpy(), strict=True)
        }


def history_from_frame(frame: pd.DataFrame, spec: ProjectSpec, keys: Sequence[str] | None = None) -> History:
    """The history of an already typed (conformed) frame with EVENT_TIME; `keys` bounds the
    partitions replayed (default: every partition of the spec's range that holds rows)."""
    from mlops_pipelines.lib.grains import anchored_start
    from mlops_pipelines.lib.scoring.prediction_log import partition_keys

    if len(frame) == 0:
        raise HistoryError(f"{spec.name}: the source holds no rows")
    rows = frame.copy()
    grain, week_start = spec.partitions.grain, spec.partitions.week_start
    rows[PARTITION] = partition_keys(rows[EVENT_TIME], grain, week_start).to_numpy()
    # The first partition holds `start` (rounded down to its period, as partitions.py does).
    first = anchored_start(grain.value, spec.partitions.start, week_start).isoformat()
    end = spec.partitions.end.isoformat() if spec.partitions.end else None
    keep = rows[PARTITION].notna() & (rows[PARTITION] >= first)
    if end is not None:
        keep &= rows[PARTITION] < end
    if keys is not None:
        keep &= rows[PARTITION].isin(set(keys))
    rows = rows[keep]
    labelled = rows[spec.target].notna()
    dropped = int((~labelled).sum())
    rows = rows[labelled]
    if len(rows) == 0:
        raise HistoryError(
            f"{spec.name}: no labelled rows fall in the partitions {first}..{end or 'open end'} "
            f"({len(frame)} rows read, {dropped} without a label)"
        )
    rows[ROW_ID] = np.arange(len(rows))
    table = feature_table(rows.reset_index(drop=True), spec)
    table = table.sort_values([EVENT_TIME, PARTITION, ROW_ID], kind="stable").reset_index(drop=True)
    parts = table[PARTITION].to_numpy()
    boundaries = np.flatnonzero(parts[1:] != parts[:-1]) + 1
    starts = np.concatenate([[0], boundaries, [len(table)]]).astype(np.int64)
    ordered_keys = tuple(str(parts[i]) for i in starts[:-1])
    if list(ordered_keys) != sorted(set(ordered_keys)):
        raise HistoryError(f"{spec.name}: partitions are not contiguous in time order")
    return History(spec, ordered_keys, table, starts, dropped)


def load_history(spec: ProjectSpec, data_dir: str | None, cache_dir: Path) -> History:
    """Read, type and key the project's whole source (files, URL or simulator)."""
    from mlops_pipelines.lib.ingestion import sources
    from mlops_pipelines.lib.ingestion.conform import conform

    raw = sources.read_source(spec, sources.resolve_data_dir(spec, data_dir), cache_dir)
    conformed = conform(raw, spec)
    if conformed.frame is None:
        problems = "; ".join(f"{p.column}: {p.message}" for p in conformed.problems[:5])
        raise HistoryError(f"{spec.name}: the source does not conform to the spec: {problems}")
    return history_from_frame(conformed.frame, spec)
