"""Validate a conformed batch with Great Expectations and split it into valid and quarantined rows.

Row-level expectations (null, range, category, duplicate) quarantine the rows they flag; the
others (row count, column set, dtypes, all-null columns) and too large a quarantine share are
batch problems: the caller fails the batch. An expectation that raised inside GX is reported as
"validation errored", apart from data that failed.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.conform import TARGET_DTYPES, quarantine_frame, row_ids, row_payloads
from mlops_pipelines.lib.expectations import ROW_LEVEL, SUITE_KEY, build_expectations
from mlops_pipelines.spec import ProjectSpec

logger = logging.getLogger(__name__)

# COMPLETE is the only format that lists every failing row; the index query is SQL-only noise.
_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
_DUPLICATE_CHECKS = ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")
_VALUE_CHARS = 80
# A GX context is not safe to share between threads; steps in one process may run in threads.
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str  # GX expectation type, e.g. "expect_column_values_to_be_between"
    column: str | None
    success: bool
    unexpected_count: int
    errored: bool  # GX raised while evaluating it: the data was not judged
    message: str


@dataclass(frozen=True, eq=False)  # DataFrame fields: compare and hash by identity
class ValidationOutcome:
    valid: pd.DataFrame  # rows that passed every row-level expectation, in batch order
    quarantine: pd.DataFrame  # conform.QUARANTINE_COLUMNS
    expectations: tuple[ExpectationOutcome, ...]  # in suite order
    batch_problems: tuple[str, ...]
    rows_in: int

    def __post_init__(self) -> None:
        if self.rows_valid + self.rows_quarantined != self.rows_in:
            raise RuntimeError(
                f"validation lost rows: {self.rows_in} in, {self.rows_valid} valid + "
                f"{self.rows_quarantined} quarantined"
            )

    @property
    def rows_valid(self) -> int:
        return len(self.valid)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def passed(self) -> bool:
        return not self.batch_problems


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral context per process: creating it is cheap, importing GX is not."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("mlops_batches").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX hides errors in exception_info, flat or keyed by metric; None when nothing raised."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = [
        str(v.get("exception_message"))
        for v in info.values()
        if isinstance(v, dict) and v.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(nested)) or None


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _values_text(values: pd.Series) -> np.ndarray:
    text = values.astype(str).str.slice(0, _VALUE_CHARS)
    if pd.api.types.is_object_dtype(values):
        text = "'" + text + "'"
    return text.to_numpy(dtype=object)


def _row_messages(
    frame: pd.DataFrame, name: str, kwargs: dict[str, Any], positions: np.ndarray
) -> np.ndarray:
    column = kwargs["column"]
    if name == "expect_column_values_to_not_be_null":
        return np.full(len(positions), f"column '{column}': null value not allowed ({name})", dtype=object)
    if name == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            bound = f"outside [{_number(low)}, {_number(high)}]"
        elif low is not None:
            bound = f"below minimum {_number(low)}"
        else:
            bound = f"above maximum {_number(high)}"
        suffix = f" {bound} ({name})"
    elif name == "expect_column_values_to_be_in_set":
        suffix = f" not in the spec's {len(kwargs['value_set'])} categories ({name})"
    else:
        suffix = f" unexpected ({name})"
    return f"column '{column}': value " + _values_text(frame[column].iloc[positions]) + suffix


def _repeats(
    frame: pd.DataFrame, columns: list[str], flagged: np.ndarray, ids: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Of the rows GX flags (every occurrence of a repeated row), all but the first occurrence."""
    flagged = np.sort(flagged)
    codes = frame.iloc[flagged].groupby(columns, dropna=False, sort=False).ngroup().to_numpy()
    _, first_of_code = np.unique(codes, return_index=True)
    first = flagged[first_of_code[codes]]
    repeat = flagged != first
    text = pd.Series(ids[first[repeat]]).astype(str).to_numpy(dtype=object)
    return flagged[repeat], "duplicate of row " + text + f" over all spec columns ({name})"


def _batch_message(name: str, column: str | None, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    observed = result.get("observed_value")
    if name == "expect_table_row_count_to_be_between":
        return f"row count {observed} below minimum {kwargs.get('min_value')} ({name})"
    if name == "expect_table_columns_to_match_set":
        mismatched = (result.get("details") or {}).get("mismatched") or {}
        missing, unexpected = mismatched.get("missing", []), mismatched.get("unexpected", [])
        return f"columns do not match the spec: missing {missing}, unexpected {unexpected} ({name})"
    if name == "expect_column_proportion_of_non_null_values_to_be_between":
        return f"column '{column}' is entirely null ({name})"
    where = f" on column '{column}'" if column else ""
    return f"{name} failed{where}: observed {observed}"


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
    duplicates are re-checked on the exact values (see _repeats).
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


@dataclass
class _Findings:
    outcomes: list[ExpectationOutcome]
    problems: list[str]
    flagged: list[tuple[np.ndarray, np.ndarray]]  # (row positions, reason per row), suite order


def _read_results(results: list[Any], work: pd.DataFrame, ids: np.ndarray) -> _Findings:
    rows = len(work)
    found = _Findings([], [], [])
    for item in sorted(results, key=lambda r: r.expectation_config.meta[SUITE_KEY]):
        config, result = item.expectation_config, item.result or {}
        name, kwargs = config.type, dict(config.kwargs)
        column = kwargs.get("column")
        unexpected = int(result.get("unexpected_count") or 0)
        error = _exception_message(item.exception_info)
        if error is not None:
            where = f" on column '{column}'" if column else ""
            found.problems.append(f"validation errored: {name}{where}: {error}")
            found.outcomes.append(ExpectationOutcome(name, column, False, unexpected, True, error))
            continue
        if item.success:
            found.outcomes.append(ExpectationOutcome(name, column, True, unexpected, False, "passed"))
            continue
        if name in ROW_LEVEL:
            positions = np.asarray(result.get("unexpected_index_list") or [], dtype="int64")
            if len(positions) != unexpected or (
                len(positions) and not 0 <= positions.min() <= positions.max() < rows
            ):
                raise RuntimeError(
                    f"{name} on '{column}': GX reported {unexpected} rows but indices {positions[:5]}"
                )
            if name in _DUPLICATE_CHECKS:
                columns = kwargs.get("column_list") or [column]
                found.flagged.append(_repeats(work, columns, positions, ids, name))
            else:
                found.flagged.append((positions, _row_messages(work, name, kwargs, positions)))
            message = f"{unexpected} of {rows} rows unexpected"
            if name == "expect_column_values_to_not_be_null" and unexpected == rows:
                found.problems.append(f"column '{column}' is entirely null ({name})")
        else:
            message = _batch_message(name, column, kwargs, result)
            # On an empty batch every column is "entirely null": the row count already says it.
            if rows or name != "expect_column_proportion_of_non_null_values_to_be_between":
                found.problems.append(message)
        found.outcomes.append(ExpectationOutcome(name, column, False, unexpected, False, message))
    return found


def _join_reasons(flagged: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions of every flagged row and its reasons, '; '-joined in suite order."""
    if not flagged:
        return np.empty(0, dtype="int64"), np.empty(0, dtype=object)
    bad = np.unique(np.concatenate([positions for positions, _ in flagged]))
    reasons = np.full(len(bad), "", dtype=object)
    for positions, messages in flagged:
        slots = np.searchsorted(bad, positions)
        current = reasons[slots]
        reasons[slots] = np.where(current == "", messages, current + "; " + messages)
    return bad, reasons


def validate_batch(frame: pd.DataFrame, spec: ProjectSpec, partition: str) -> ValidationOutcome:
    """Run the spec's suite over a conformed batch; quarantine flagged rows with their reasons."""
    import great_expectations as gx

    work = frame.reset_index(drop=True)  # GX reports index labels: make them positions
    rows = len(work)
    system = [str(c) for c in work.columns if str(c).startswith("_") and c not in spec.columns]
    expectations = build_expectations(spec, system)
    suite = gx.ExpectationSuite(name=f"{spec.name}_batch", expectations=expectations)
    # GX filters nulls out of the whole frame once per column expectation; without copy-on-write
    # each all-true filter deep-copies every column (about 3 s of 4 at 1M rows). The option is
    # process-wide while it is set: pandas code in another thread meanwhile also runs with CoW.
    with _GX_LOCK, pd.option_context("mode.copy_on_write", True):
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": _gx_view(work)})
        run = batch.validate(suite, result_format=_RESULT_FORMAT)
    if len(run.results) != len(expectations):
        raise RuntimeError(f"GX returned {len(run.results)} results for {len(expectations)} expectations")
    ids = row_ids(work)
    found = _read_results(list(run.results), work, ids)
    problems = _dtype_problems(work, spec) + found.problems
    bad, reasons = _join_reasons(found.flagged)
    share = len(bad) / rows if rows else 0.0
    if share > spec.validation.max_quarantine_share:
        problems.append(
            f"quarantined {len(bad)} of {rows} rows ({share:.1%}), above max_quarantine_share "
            f"{spec.validation.max_quarantine_share:.1%}"
        )
    keep = np.ones(rows, dtype=bool)
    keep[bad] = False
    outcome = ValidationOutcome(
        valid=work[keep].reset_index(drop=True),
        quarantine=quarantine_frame(partition, ids[bad], list(reasons), row_payloads(work.iloc[bad])),
        expectations=tuple(found.outcomes),
        batch_problems=tuple(problems),
        rows_in=rows,
    )
    logger.info(
        "%s/%s: %d rows in, %d valid, %d quarantined, %d batch problem(s)",
        spec.name,
        partition,
        rows,
        outcome.rows_valid,
        outcome.rows_quarantined,
        len(problems),
    )
    return outcome
