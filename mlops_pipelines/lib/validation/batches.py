"""One GX run over many partitions, split back into each partition's own verdicts.

GX costs about 0.5-0.9 s per run whatever the size, so a 730-partition backfill validated one
partition at a time spends minutes in GX overhead. Row-level expectations (null, range,
category) judge each row alone: one run over the whole frame flags the same rows. Duplicates
are judged within a partition only: the partition column joins the compared columns. The
batch-level ones (row count, all-null column) are re-derived per partition in pandas, the way
GX computes them. The column set and any expectation that raised are the same for every
partition: they depend on the frame's columns, not on its rows.

Two limits to "the same as validating each partition alone": an expectation that raises on some
rows' values (a frame that skipped conform) errs for every partition, even one without such
rows; and integers beyond 2**53 in a column with nulls in another partition are compared as
float64 by GX's duplicate check (which rows are quarantined stays exact: see `repeats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.validation.outcome import (
    COLUMN_SET,
    DUPLICATE_CHECKS,
    NON_NULL_SHARE,
    ROW_COUNT,
    Verdict,
    flagged_positions,
    repeat_label,
    repeats,
    row_messages,
    verdict_of,
)
from mlops_pipelines.lib.validation.suite import ROW_LEVEL

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

_EXAMPLES = 5


@dataclass(frozen=True, eq=False)  # numpy fields: compare by identity
class PartitionIndex:
    """Which partition each row of a frame belongs to, and where it sits inside it."""

    keys: tuple[str, ...]
    codes: np.ndarray  # each row's partition, as a position in `keys`
    sizes: np.ndarray  # rows per partition, in `keys` order
    local: np.ndarray  # each row's position among the rows of its partition, in frame order

    def count(self, positions: np.ndarray) -> np.ndarray:
        """How many of the rows at `positions` fall in each partition."""
        return np.bincount(self.codes[positions], minlength=len(self.keys))

    def members(self) -> list[np.ndarray]:
        """Each partition's row positions, in frame order (empty for a partition without rows)."""
        order = np.argsort(self.codes, kind="stable")
        return np.split(order, np.cumsum(self.sizes)[:-1])


def index_partitions(frame: pd.DataFrame, keys: Sequence[str], column: str) -> PartitionIndex:
    """Index `frame`'s rows by `column`; every row must belong to one of `keys`."""
    if len(set(keys)) != len(keys):
        repeated = sorted({k for k in keys if list(keys).count(k) > 1})
        raise ValueError(f"partition keys must be distinct; repeated: {repeated}")
    if column not in frame.columns:
        raise ValueError(f"partition column '{column}' not in the frame; columns are {list(frame.columns)}")
    codes = pd.Index(list(keys), dtype=object).get_indexer(pd.Index(frame[column], dtype=object))
    strays = codes < 0
    if strays.any():
        found = pd.unique(frame.loc[strays, column])[:_EXAMPLES].tolist()
        raise ValueError(
            f"{int(strays.sum())} row(s) have a '{column}' value outside the {len(keys)} partition "
            f"keys given, e.g. {found}"
        )
    codes = codes.astype("int64")
    local = pd.Series(codes).groupby(codes).cumcount().to_numpy(dtype="int64")
    return PartitionIndex(tuple(keys), codes, np.bincount(codes, minlength=len(keys)), local)


def partition_aware(expectations: list[Expectation], column: str) -> list[Expectation]:
    """The suite with its duplicate check confined to rows of one partition.

    A column-unique check becomes a compound one over (column, partition) that skips nulls, as
    the column-unique check does; `partition_verdicts` reports it under its original name.
    """
    import great_expectations.expectations as gxe

    out: list[Expectation] = []
    for expectation in expectations:
        if isinstance(expectation, gxe.ExpectCompoundColumnsToBeUnique):
            columns, ignore = [*expectation.column_list, column], expectation.ignore_row_if
        elif isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
            columns, ignore = [expectation.column, column], "any_value_is_missing"
        else:
            out.append(expectation)
            continue
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(dict.fromkeys(columns)), ignore_row_if=ignore, meta=expectation.meta
            )
        )
    return out


def _within(value: float, kwargs: dict[str, Any]) -> bool:
    """GX's between test of a batch metric (row count, non-null share) against the kwargs."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and (value <= low if kwargs.get("strict_min") else value < low):
        return False
    return high is None or (value < high if kwargs.get("strict_max") else value <= high)


def _metric_verdicts(whole: Verdict, observed: np.ndarray) -> list[Verdict]:
    return [
        replace(whole, success=_within(value, whole.kwargs), unexpected=0, result={"observed_value": value})
        for value in observed.tolist()
    ]


def partition_verdicts(
    results: list[Any],
    suite: list[Expectation],
    frame: pd.DataFrame,
    ids: np.ndarray,
    index: PartitionIndex,
) -> tuple[list[list[Verdict]], list[tuple[np.ndarray, np.ndarray]]]:
    """Each partition's verdicts in suite order, and every flagged row (frame position, reason).

    `results` are GX's results of `partition_aware(suite)` on `frame`, in suite order; `ids[i]`
    is the `_row` of frame row i within its own partition.
    """
    per_partition: list[list[Verdict]] = [[] for _ in index.keys]
    flagged: list[tuple[np.ndarray, np.ndarray]] = []
    for item, expectation in zip(results, suite, strict=True):
        # The suite's own name and column: the partition-aware duplicate check reports as it.
        whole = replace(
            verdict_of(item), name=expectation.expectation_type, column=getattr(expectation, "column", None)
        )
        name = whole.name
        if whole.error is not None or name == COLUMN_SET:
            each = [whole] * len(index.keys)
        elif name == ROW_COUNT:
            each = _metric_verdicts(whole, index.sizes)
        elif name == NON_NULL_SHARE:
            present = index.count(np.flatnonzero(frame[whole.column].notna().to_numpy()))
            # GX: non-null count / row count, and 0 for an empty batch.
            share = np.divide(present, index.sizes, out=np.zeros(len(present)), where=index.sizes > 0)
            each = _metric_verdicts(whole, share)
        elif name in ROW_LEVEL:
            positions = flagged_positions(whole, len(frame))
            if len(positions) and name in DUPLICATE_CHECKS:
                columns = list(whole.kwargs["column_list"])
                flagged.append(repeats(frame, columns, positions, ids, name, repeat_label(whole.kwargs)))
            elif len(positions):
                flagged.append((positions, row_messages(frame, name, whole.kwargs, positions)))
            each = [
                replace(whole, success=count == 0, unexpected=count, result={})
                for count in index.count(positions).tolist()
            ]
        else:
            raise NotImplementedError(f"validate_partitions cannot split expectation '{name}' by partition")
        for verdicts, verdict in zip(per_partition, each, strict=True):
            verdicts.append(verdict)
    return per_partition, flagged
