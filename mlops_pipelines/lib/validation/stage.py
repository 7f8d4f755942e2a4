"""The validation stage: one Great Expectations run over a run's raw partitions, split and stored.

`validate_raw_slice` is what the validate multi-asset runs (and the benchmarks' plain path).
It reads exactly the raw slice it is handed, re-types it (`conform`: the Delta round trip
turns Int64 into int64 and ns into us, cheaply and exactly), judges each partition as if
validated alone (`lib.validation.gx.validate_partitions`, one GX run for all of them, since
GX's fixed cost per run dominates daily batches), writes the passing rows to the validated
table and the flagged rows, with their reasons, to the expectations stage's share of the
quarantine table. Batch-level failures (row count, all-null column, too large a quarantine
share, an expectation that errored) come back in `ValidationResult.failures`: the caller fails
its blocking check on them. A raw slice that holds no partition, or no longer conforms to the
spec, raises `ValidationStageError`: there is nothing that could be judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.ingestion.stage import QUARANTINE_STAGE, quarantine_rows

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.spec import ProjectSpec

# How many distinct quarantine reasons a result keeps (the most frequent first).
TOP_REASONS = 20
_SHARE_DIGITS = 6


class ValidationStageError(RuntimeError):
    """The raw slice cannot be validated at all; the message names the project and the cause."""


@dataclass(frozen=True)
class BatchFailure:
    """A problem that fails a whole partition (its rows never reach features)."""

    partition: str
    problem: str


@dataclass(frozen=True)
class FailedExpectation:
    """An expectation that did not pass on one partition."""

    partition: str
    expectation: str  # GX expectation type
    column: str | None  # None for table-level and multi-column expectations
    unexpected: int  # rows it flagged


@dataclass(frozen=True)
class ReasonCount:
    """How many quarantined rows give one reason (a row may give several)."""

    reason: str
    rows: int


@dataclass(frozen=True)
class ValidationResult:
    validated: TableSlice  # rows that passed every row-level expectation
    quarantine: TableSlice  # this run's expectation-rejected rows (the table holds other stages' too)
    raw_version: int  # the raw table version that was judged
    rows_in: int
    failures: tuple[BatchFailure, ...]  # in partition order
    failed_expectations: tuple[FailedExpectation, ...]  # in partition order, then suite order
    reasons: tuple[ReasonCount, ...]  # the TOP_REASONS most frequent, most frequent first
    # validation.rules findings of severity warn: reported, nothing blocked (spec_rules.py).
    warnings: tuple[BatchFailure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.rows

    @property
    def quarantine_share(self) -> float | None:
        """Share of the rows in that were quarantined; None when no row came in."""
        if not self.rows_in:
            return None
        return round(self.rows_quarantined / self.rows_in, _SHARE_DIGITS)


def validate_raw_slice(spec: ProjectSpec, raw: TableSlice, tables: TableStore) -> ValidationResult:
    """Validate the partitions `raw` pins; store the valid rows and the quarantine; report both."""
    import pandas as pd

    from mlops_pipelines.lib.ingestion.conform import conform
    from mlops_pipelines.lib.validation.gx import validate_partitions
    from mlops_pipelines.lib.validation.rules import check_rules

    keys = list(raw.partitions)
    if not keys:
        raise ValidationStageError(
            f"{spec.name}: raw holds no typed partition for this run; see the raw schema check"
        )
    conformed = conform(tables.read_slice(raw), spec)
    if conformed.frame is None:
        problems = "; ".join(p.message for p in conformed.problems)
        raise ValidationStageError(
            f"{spec.name} raw partitions {keys[0]}..{keys[-1]} no longer conform to the spec: {problems}"
        )
    frame = conformed.frame
    outcomes = validate_partitions(frame, spec, keys)
    findings = check_rules(frame, spec, keys, datetime.now(UTC).replace(tzinfo=None))
    blocking = [BatchFailure(f.partition, f.message) for f in findings if f.severity == "block"]
    failures: list[BatchFailure] = []
    expectations: list[FailedExpectation] = []
    for key in keys:
        outcome = outcomes[key]
        failures.extend(BatchFailure(key, problem) for problem in outcome.batch_problems)
        failures.extend(failure for failure in blocking if failure.partition == key)
        expectations.extend(
            FailedExpectation(key, e.name, e.column, e.unexpected_count)
            for e in outcome.expectations
            if not e.success
        )
    valid = pd.concat([outcomes[key].valid for key in keys], ignore_index=True)
    rejected = pd.concat(
        [quarantine_rows(outcomes[key].quarantine, names.EXPECTATIONS_CHECK) for key in keys],
        ignore_index=True,
    )
    validated = tables.write_partitions(spec.name, names.VALIDATED, valid, keys)
    where = {QUARANTINE_STAGE: names.EXPECTATIONS_CHECK}
    quarantine = tables.write_partitions(spec.name, names.QUARANTINE, rejected, keys, where=where)
    return ValidationResult(
        validated=validated,
        quarantine=quarantine,
        raw_version=raw.version,
        rows_in=len(frame),
        failures=tuple(failures),
        failed_expectations=tuple(expectations),
        reasons=reason_counts(rejected),
        warnings=tuple(BatchFailure(f.partition, f.message) for f in findings if f.severity == "warn"),
    )


def reason_counts(rejected: pd.DataFrame, limit: int = TOP_REASONS) -> tuple[ReasonCount, ...]:
    """The most frequent single reasons among quarantined rows (a row's reasons join with '; ')."""
    if rejected.empty:
        return ()
    counts = rejected["reasons"].str.split("; ").explode().value_counts().head(limit)
    return tuple(ReasonCount(str(reason), int(n)) for reason, n in counts.items())
