"""What validation says about one batch: the outcome types and the words in them.

Shared by `validation.validate_batch` (GX judges one batch) and `validation.validate_partitions`
(GX judges the rows of many batches at once, pandas the batches): both build every message
here, so the same data gives the same text whichever path validated it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.validation.suite import ROW_LEVEL
from mlops_pipelines.spec import ProjectSpec

DUPLICATE_CHECKS = ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique")
NOT_NULL = "expect_column_values_to_not_be_null"
NON_NULL_SHARE = "expect_column_proportion_of_non_null_values_to_be_between"
ROW_COUNT = "expect_table_row_count_to_be_between"
COLUMN_SET = "expect_table_columns_to_match_set"
_VALUE_CHARS = 80


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


def exception_message(info: dict[str, Any] | None) -> str | None:
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


def null_message(column: str) -> str:
    """The reason a null in a non-nullable column gives; on the target it means "no label"."""
    return f"column '{column}': null value not allowed ({NOT_NULL})"


def row_messages(frame: pd.DataFrame, name: str, kwargs: dict[str, Any], positions: np.ndarray) -> np.ndarray:
    """The reason each flagged row (by position in `frame`) gives for a null/range/set check."""
    column = kwargs["column"]
    if name == NOT_NULL:
        return np.full(len(positions), null_message(column), dtype=object)
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


def repeat_label(kwargs: dict[str, Any]) -> str:
    """What a duplicate check compares: every spec column, or a rule's key columns."""
    if kwargs.get("ignore_row_if", "never") == "never":
        return "all spec columns"
    return f"key {[c for c in kwargs.get('column_list') or [kwargs.get('column')] if not str(c).startswith('_')]}"


def repeats(
    frame: pd.DataFrame,
    columns: list[str],
    flagged: np.ndarray,
    ids: np.ndarray,
    name: str,
    label: str = "all spec columns",
) -> tuple[np.ndarray, np.ndarray]:
    """Of the rows GX flags (every occurrence of a repeated row), all but the first occurrence.

    Rows repeat when they agree on `columns`; `ids[i]` is the `_row` that row i is known by.
    """
    flagged = np.sort(flagged)
    codes = frame.iloc[flagged].groupby(columns, dropna=False, sort=False).ngroup().to_numpy()
    _, first_of_code = np.unique(codes, return_index=True)
    first = flagged[first_of_code[codes]]
    repeat = flagged != first
    text = pd.Series(ids[first[repeat]]).astype(str).to_numpy(dtype=object)
    return flagged[repeat], "duplicate of row " + text + f" over {label} ({name})"


def _batch_message(name: str, column: str | None, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    observed = result.get("observed_value")
    if name == ROW_COUNT:
        return f"row count {observed} below minimum {kwargs.get('min_value')} ({name})"
    if name == COLUMN_SET:
        mismatched = (result.get("details") or {}).get("mismatched") or {}
        missing, unexpected = mismatched.get("missing", []), mismatched.get("unexpected", [])
        return f"columns do not match the spec: missing {missing}, unexpected {unexpected} ({name})"
    if name == NON_NULL_SHARE and kwargs.get("min_value"):  # a null_share rule (spec_rules.py)
        share = 1 - float(observed or 0)
        limit = 1 - kwargs["min_value"]
        return (
            f"column '{column}': {share:.1%} nulls, above {limit:.1%} (validation.rules null_share; {name})"
        )
    if name == NON_NULL_SHARE:
        return f"column '{column}' is entirely null ({name})"
    where = f" on column '{column}'" if column else ""
    return f"{name} failed{where}: observed {observed}"


@dataclass(frozen=True)
class Verdict:
    """One expectation's judgement of one batch, as GX reports it (or pandas re-derives it)."""

    name: str
    column: str | None
    kwargs: dict[str, Any]
    success: bool
    unexpected: int
    result: dict[str, Any]  # observed_value / details, for batch-level messages
    error: str | None  # GX raised: the data was not judged


def verdict_of(item: Any) -> Verdict:
    """A GX ExpectationValidationResult as a Verdict."""
    config, result = item.expectation_config, item.result or {}
    kwargs = dict(config.kwargs)
    return Verdict(
        name=config.type,
        column=kwargs.get("column"),
        kwargs=kwargs,
        success=bool(item.success),
        unexpected=int(result.get("unexpected_count") or 0),
        result=result,
        error=exception_message(item.exception_info),
    )


def flagged_positions(verdict: Verdict, rows: int) -> np.ndarray:
    """Positions of the rows a failed row-level expectation flags, checked against its count."""
    positions = np.asarray(verdict.result.get("unexpected_index_list") or [], dtype="int64")
    if len(positions) != verdict.unexpected or (
        len(positions) and not 0 <= positions.min() <= positions.max() < rows
    ):
        raise RuntimeError(
            f"{verdict.name} on '{verdict.column}': GX reported {verdict.unexpected} rows "
            f"but indices {positions[:5]}"
        )
    return positions


def judge(
    verdict: Verdict, rows: int, all_null_min_rows: int, target: str
) -> tuple[ExpectationOutcome, str | None]:
    """The outcome of one expectation on a batch of `rows` rows, and the batch problem it raises.

    A nullable column null throughout a batch of fewer than `all_null_min_rows` rows fails its
    expectation, with the reason it does not block (validation.all_null_min_rows). So does a
    `target` null throughout: labels missing for a while (a sensor down, labels not joined yet)
    leave the batch's features sound, and its rows are quarantined as unlabelled."""
    name, column = verdict.name, verdict.column
    if verdict.error is not None:
        where = f" on column '{column}'" if column else ""
        errored = ExpectationOutcome(name, column, False, verdict.unexpected, True, verdict.error)
        return errored, f"validation errored: {name}{where}: {verdict.error}"
    if verdict.success:
        return ExpectationOutcome(name, column, True, verdict.unexpected, False, "passed"), None
    problem: str | None = None
    if name in ROW_LEVEL:
        message = f"{verdict.unexpected} of {rows} rows unexpected"
        if name == NOT_NULL and verdict.unexpected == rows and column == target:
            message += "; no row has a label: not blocking"
        elif name == NOT_NULL and verdict.unexpected == rows:
            problem = f"column '{column}' is entirely null ({name})"
    else:
        message = _batch_message(name, column, verdict.kwargs, verdict.result)
        all_null = name == NON_NULL_SHARE and not verdict.kwargs.get("min_value")
        if all_null and 0 < rows < all_null_min_rows:
            message += (
                f"; not blocking: {rows} row(s), below validation.all_null_min_rows {all_null_min_rows}"
            )
        # On an empty batch every column is "entirely null": the row count already says it.
        elif rows or name != NON_NULL_SHARE:
            problem = message
    return ExpectationOutcome(name, column, False, verdict.unexpected, False, message), problem


def join_reasons(flagged: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
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


def share_problem(quarantined: int, rows: int, spec: ProjectSpec, unlabelled: int = 0) -> str | None:
    """Too large a share of the batch quarantined fails the batch.

    Rows quarantined only for a null target (`unlabelled`) are left out of both counts: a label
    that never arrived is no defect of the batch, and its features are fine. A file with 12 %
    of its labels missing otherwise blocked one weekly partition in seven, at random."""
    defective, judged = quarantined - unlabelled, rows - unlabelled
    share = defective / judged if judged else 0.0
    if share <= spec.validation.max_quarantine_share:
        return None
    apart = f"; {unlabelled} row(s) without a label not counted" if unlabelled else ""
    return (
        f"quarantined {defective} of {judged} rows ({share:.1%}), above max_quarantine_share "
        f"{spec.validation.max_quarantine_share:.1%}{apart}"
    )
