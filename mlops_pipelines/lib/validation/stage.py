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

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.chunks import CHUNK_ROWS, chunk_keys, concat_arrow, release_memory
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, TableSlice
from mlops_pipelines.lib.ingestion.stage import QUARANTINE_STAGE, quarantine_rows

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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


def _rule_columns(spec: ProjectSpec) -> list[str]:
    """The columns `check_rules` reads: event time, partition and each rule's own."""
    from mlops_pipelines.spec_rules import rule_columns

    columns = [EVENT_TIME, PARTITION]
    for rule in spec.validation.rules:
        columns.extend(rule_columns(rule))
    return list(dict.fromkeys(columns))


def validate_raw_slice(
    spec: ProjectSpec, raw: TableSlice, tables: TableStore, chunk_rows: int = CHUNK_ROWS
) -> ValidationResult:
    """Validate the partitions `raw` pins; store the valid rows and the quarantine; report both.

    A large slice (a backfill's range run) is judged in groups of partitions of about `chunk_rows`
    rows (lib.chunks), so memory is bounded by one group, not the range: each partition is judged alone
    either way, so the verdicts are the same. The kept rows gather as Arrow pieces and each
    table is written once, in one commit, after every group was judged: a failure half way
    writes nothing. `validation.rules` see the whole slice (a stuck run may cross groups).
    """
    import pandas as pd

    from mlops_pipelines.lib.ingestion.conform import conform
    from mlops_pipelines.lib.lake import to_arrow
    from mlops_pipelines.lib.validation.gx import validate_partitions
    from mlops_pipelines.lib.validation.rules import check_rules

    keys = list(raw.partitions)
    if not keys:
        raise ValidationStageError(
            f"{spec.name}: raw holds no typed partition for this run; see the raw schema check"
        )
    rule_columns = _rule_columns(spec) if spec.validation.rules else []
    valid: list[pa.Table] = []
    rejected: list[pa.Table] = []
    rule_parts: list[pd.DataFrame] = []
    reasons: Counter[str] = Counter()
    rows_in = 0
    failures: list[BatchFailure] = []
    expectations: list[FailedExpectation] = []
    for chunk in chunk_keys(keys, tables.slice_rows(raw), chunk_rows):
        conformed = conform(tables.read_slice(replace(raw, partitions=tuple(chunk))), spec)
        if conformed.frame is None:
            problems = "; ".join(p.message for p in conformed.problems)
            raise ValidationStageError(
                f"{spec.name} raw partitions {chunk[0]}..{chunk[-1]} no longer conform to the spec: {problems}"
            )
        frame = conformed.frame
        del conformed
        rows_in += len(frame)
        outcomes = validate_partitions(frame, spec, chunk)
        if rule_columns:
            part = frame[[c for c in rule_columns if c in frame.columns]].copy()
            part[PARTITION] = part[PARTITION].astype("category")  # 10M key strings would be GBs
            rule_parts.append(part)
        del frame
        for key in chunk:
            outcome = outcomes[key]
            failures.extend(BatchFailure(key, problem) for problem in outcome.batch_problems)
            expectations.extend(
                FailedExpectation(key, e.name, e.column, e.unexpected_count)
                for e in outcome.expectations
                if not e.success
            )
        valid.append(to_arrow(pd.concat([outcomes[key].valid for key in chunk], ignore_index=True)))
        flagged = pd.concat(
            [quarantine_rows(outcomes[key].quarantine, names.EXPECTATIONS_CHECK) for key in chunk],
            ignore_index=True,
        )
        del outcomes
        reasons.update(_reason_counter(flagged))
        rejected.append(to_arrow(flagged))
        del flagged
    findings = []
    if rule_parts:
        whole = pd.concat(rule_parts, ignore_index=True) if len(rule_parts) > 1 else rule_parts[0]
        whole[PARTITION] = whole[PARTITION].astype(str)
        findings = check_rules(whole, spec, keys, datetime.now(UTC).replace(tzinfo=None))
        del whole, rule_parts
    # Batch problems first, then blocking rule findings, per partition (in partition order).
    blocking = [BatchFailure(f.partition, f.message) for f in findings if f.severity == "block"]
    order = {key: i for i, key in enumerate(keys)}
    failures = sorted([*failures, *blocking], key=lambda f: order.get(f.partition, len(order)))
    validated = tables.write_partitions(spec.name, names.VALIDATED, concat_arrow(valid), keys)
    where = {QUARANTINE_STAGE: names.EXPECTATIONS_CHECK}
    quarantine = tables.write_partitions(
        spec.name, names.QUARANTINE, concat_arrow(rejected), keys, where=where
    )
    del valid, rejected
    release_memory(rows_in)
    return ValidationResult(
        validated=validated,
        quarantine=quarantine,
        raw_version=raw.version,
        rows_in=rows_in,
        failures=tuple(failures),
        failed_expectations=tuple(expectations),
        reasons=tuple(ReasonCount(r, n) for r, n in reasons.most_common(TOP_REASONS)),
        warnings=tuple(BatchFailure(f.partition, f.message) for f in findings if f.severity == "warn"),
    )


def _reason_counter(rejected: pd.DataFrame) -> Counter[str]:
    """Rows per single reason, most frequent first (a row's reasons join with '; ')."""
    if rejected.empty:
        return Counter()
    counts = rejected["reasons"].str.split("; ").explode().value_counts()
    return Counter({str(reason): int(n) for reason, n in counts.items()})


def reason_counts(rejected: pd.DataFrame, limit: int = TOP_REASONS) -> tuple[ReasonCount, ...]:
    """The most frequent single reasons among quarantined rows (a row's reasons join with '; ')."""
    return tuple(ReasonCount(r, n) for r, n in _reason_counter(rejected).most_common(limit))
