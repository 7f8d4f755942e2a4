"""Validate conformed batches with Great Expectations and split them into valid and quarantined rows.

Row-level expectations (null, range, category, duplicate) quarantine the rows they flag; the
others (row count, column set, dtypes, all-null columns) and too large a quarantine share are
batch problems: the caller fails the batch. An expectation that raised inside GX is reported as
"validation errored", apart from data that failed.

`validate_batch` lets GX judge one batch, every expectation included. `validate_partitions`
gives each of many partitions that same outcome from a single GX run (see validation_batches),
because GX's fixed cost per run dominates small daily partitions.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.frames import PARTITION, ROW_ID
from mlops_pipelines.lib.ingestion.conform import TARGET_DTYPES, quarantine_frame, row_ids, row_payloads
from mlops_pipelines.lib.validation.batches import index_partitions, partition_aware, partition_verdicts
from mlops_pipelines.lib.validation.outcome import (
    DUPLICATE_CHECKS,
    ExpectationOutcome,
    ValidationOutcome,
    Verdict,
    flagged_positions,
    join_reasons,
    judge,
    null_message,
    repeat_label,
    repeats,
    row_messages,
    share_problem,
    verdict_of,
)
from mlops_pipelines.lib.validation.suite import ROW_LEVEL, SUITE_KEY, build_expectations
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

__all__ = ["ExpectationOutcome", "ValidationOutcome", "validate_batch", "validate_partitions"]

logger = logging.getLogger(__name__)

# COMPLETE is the only format that lists every failing row; the index query is SQL-only noise.
_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
# A GX context is not safe to share between threads; steps in one process may run in threads.
_GX_LOCK = threading.Lock()


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral context per process: creating it is cheap, importing GX is not."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("mlops_batches").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _dtype_problems(frame: pd.DataFrame, spec: ProjectSpec) -> list[str]:
    """Columns whose dtype is not what conform() produces (a frame that skipped conform)."""
    problems = []
    for name, column in spec.columns.items():
        expected = TARGET_DTYPES[column.dtype]
        if name in frame.columns and str(frame[name].dtype) != expected:
            problems.append(f"column '{name}' has dtype {frame[name].dtype}, conform() makes it {expected}")
    return problems


def _gx_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame GX sees: 'Int64' as int64, or float64 when it holds nulls.

    GX's pandas range check is vectorised only for numpy int/float dtypes; on 'Int64' it calls a
    Python function per value (about 2 s per column at 1M rows). float64 is exact up to 2**53;
    duplicates are re-checked on the exact values (see validation_outcome.repeats).
    """
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.Int64Dtype):
            column = pd.Series(
                column.to_numpy(dtype="float64" if column.hasnans else "int64", na_value=np.nan)
            )
        columns[name] = column
    # One block per dtype: GX filters the whole frame once per column expectation, and pandas
    # would consolidate a column-per-block frame again on every one of those filters.
    return pd.DataFrame(columns, index=frame.index).copy()


def _suite(frame: pd.DataFrame, spec: ProjectSpec) -> list[Expectation]:
    system = [str(c) for c in frame.columns if str(c).startswith("_") and c not in spec.columns]
    return build_expectations(spec, system)


def _run(frame: pd.DataFrame, expectations: list[Expectation], name: str) -> list[Any]:
    """GX's results of `expectations` on `frame` (index labels = positions), in suite order."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    # GX filters nulls out of the whole frame once per column expectation; without copy-on-write
    # each all-true filter deep-copies every column (about 3 s of 4 at 1M rows). The option is
    # process-wide while it is set: pandas code in another thread meanwhile also runs with CoW.
    with _GX_LOCK, pd.option_context("mode.copy_on_write", True):
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": _gx_view(frame)})
        run = batch.validate(suite, result_format=_RESULT_FORMAT)
    if len(run.results) != len(expectations):
        raise RuntimeError(f"GX returned {len(run.results)} results for {len(expectations)} expectations")
    return sorted(run.results, key=lambda r: r.expectation_config.meta[SUITE_KEY])


def _outcome(
    valid: pd.DataFrame,
    rows: int,
    quarantine: pd.DataFrame,
    verdicts: list[Verdict],
    dtype_problems: list[str],
    spec: ProjectSpec,
    unlabelled: int,
) -> ValidationOutcome:
    """One batch's outcome, given its valid and quarantined rows (`unlabelled`: how many of
    those were quarantined for a null target alone)."""
    judged = [judge(verdict, rows, spec.validation.all_null_min_rows, spec.target) for verdict in verdicts]
    problems = [*dtype_problems, *(problem for _, problem in judged if problem is not None)]
    too_many = share_problem(len(quarantine), rows, spec, unlabelled)
    if too_many is not None:
        problems.append(too_many)
    return ValidationOutcome(
        valid=valid,
        quarantine=quarantine,
        expectations=tuple(outcome for outcome, _ in judged),
        batch_problems=tuple(problems),
        rows_in=rows,
    )


def validate_batch(frame: pd.DataFrame, spec: ProjectSpec, partition: str) -> ValidationOutcome:
    """Run the spec's suite over a conformed batch; quarantine flagged rows with their reasons."""
    work = frame.reset_index(drop=True)  # GX reports index labels: make them positions
    rows = len(work)
    verdicts = [verdict_of(item) for item in _run(work, _suite(work, spec), f"{spec.name}_batch")]
    ids = row_ids(work)
    flagged = []
    for verdict in verdicts:
        if verdict.error is not None or verdict.success or verdict.name not in ROW_LEVEL:
            continue
        positions = flagged_positions(verdict, rows)
        if verdict.name in DUPLICATE_CHECKS:
            columns = list(verdict.kwargs.get("column_list") or [verdict.column])
            flagged.append(repeats(work, columns, positions, ids, verdict.name, repeat_label(verdict.kwargs)))
        else:
            flagged.append((positions, row_messages(work, verdict.name, verdict.kwargs, positions)))
    bad, reasons = join_reasons(flagged)
    keep = np.ones(rows, dtype=bool)
    keep[bad] = False
    outcome = _outcome(
        work[keep].reset_index(drop=True),
        rows,
        quarantine_frame(partition, ids[bad], list(reasons), row_payloads(work.iloc[bad])),
        verdicts,
        _dtype_problems(work, spec),
        spec,
        int((reasons == null_message(spec.target)).sum()),
    )
    logger.info(
        "%s/%s: %d rows in, %d valid, %d quarantined, %d batch problem(s)",
        spec.name,
        partition,
        rows,
        outcome.rows_valid,
        outcome.rows_quarantined,
        len(outcome.batch_problems),
    )
    return outcome


def validate_partitions(
    frame: pd.DataFrame, spec: ProjectSpec, partitions: Sequence[str], partition_column: str = PARTITION
) -> dict[str, ValidationOutcome]:
    """Each partition's outcome, as `validate_batch` gives for that partition's rows alone.

    `frame` is conformed and holds the rows of `partitions` (told apart by `partition_column`);
    a key without rows gets an empty batch's outcome, so its row count fails it. One GX run
    judges the rows; an expectation that raised in it errored for every partition. Raises
    ValueError for repeated keys, a missing partition column or a row outside `partitions`.
    """
    keys = tuple(partitions)
    work = frame.reset_index(drop=True)  # GX reports index labels: make them positions
    index = index_partitions(work, keys, partition_column)
    suite = _suite(work, spec)
    results = _run(work, partition_aware(suite, partition_column), f"{spec.name}_partitions")
    # validate_batch numbers a batch's rows by position when the reader did not.
    ids = row_ids(work) if ROW_ID in work.columns else index.local
    verdicts, flagged = partition_verdicts(results, suite, work, ids, index)
    bad, reasons = join_reasons(flagged)
    payloads = np.asarray(row_payloads(work.iloc[bad]), dtype=object)
    # Each partition's share of `bad`, still in frame order.
    bad_of = np.split(np.argsort(index.codes[bad], kind="stable"), np.cumsum(index.count(bad))[:-1])
    # One take of every valid row, grouped by partition: a take per partition costs more.
    flags = np.zeros(len(work), dtype=bool)
    flags[bad] = True
    good = np.flatnonzero(~flags)
    valid = work.iloc[good[np.argsort(index.codes[good], kind="stable")]]
    ends = np.cumsum(index.count(good)).tolist()
    nothing = quarantine_frame("", np.empty(0, dtype="int64"), [], [])
    dtype_problems = _dtype_problems(work, spec)
    unlabelled = index.count(bad[reasons == null_message(spec.target)]).tolist()
    outcomes = {}
    for k, key in enumerate(keys):
        mine = bad_of[k]
        quarantine = (
            quarantine_frame(key, ids[bad[mine]], list(reasons[mine]), list(payloads[mine]))
            if len(mine)
            else nothing.copy()
        )
        start = ends[k - 1] if k else 0
        rows_in = int(index.sizes[k])
        part = valid.iloc[start : ends[k]].reset_index(drop=True)
        outcomes[key] = _outcome(part, rows_in, quarantine, verdicts[k], dtype_problems, spec, unlabelled[k])
    failed = [key for key, outcome in outcomes.items() if not outcome.passed]
    logger.info(
        "%s: %d partition(s), %d rows in, %d quarantined, %d partition(s) with batch problems %s",
        spec.name,
        len(keys),
        len(work),
        len(bad),
        len(failed),
        failed[:5],
    )
    return outcomes
