"""`validate-spec --data`: what the project will see of the real data, before any run.

Reads the source as ingestion does, then reports every spec column (found, or missing with a
'did you mean'), every data column the spec lacks, the time axis parsed into partitions (how
many hold rows, the first and last, rows per partition), the target and its labels, and the
rows validation would quarantine and the partitions it would block, with their reasons. Each
problem is one `errors` line naming the column or setting and the cause; `warnings` are facts
a person should know that do not stop a run (rows outside the partitions, a few empty ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlops_pipelines.lib.data_end import end_hint
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
from mlops_pipelines.lib.grains import partition_keys
from mlops_pipelines.lib.hints import did_you_mean
from mlops_pipelines.lib.ingestion.coverage import coverage, coverage_problem, time_axis_text
from mlops_pipelines.lib.ingestion.source_files import SourceError
from mlops_pipelines.lib.ingestion.sources import read_columns
from mlops_pipelines.lib.time_axis import TimeAxisError, parse_time_axis, time_format

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

_TOP = 5


@dataclass
class DataCheck:
    lines: list[str] = field(default_factory=list)  # what the project will see, in reading order
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def first_model_partitions(spec: ProjectSpec) -> int:
    """Partitions with rows the first model needs (demo.bootstrap_count's and
    backtest.engine.bootstrap_index's rule: the first model is trained as of the last of them)."""
    return (
        spec.training.window_partitions // 2
        + spec.training.holdout_partitions
        + spec.monitoring.label_delay_partitions
    )


def _columns(frame: pd.DataFrame, spec: ProjectSpec, report: DataCheck) -> None:
    data = [str(c) for c in frame.columns]
    extras = [c for c in data if c not in spec.columns]
    missing = [c for c in spec.columns if c not in data]
    report.lines.append(
        f"columns: {len(spec.columns) - len(missing)} of {len(spec.columns)} spec columns found"
    )
    for name, column in spec.columns.items():
        if name in frame.columns:
            report.lines.append(f"  ok       {name}: read as {frame[name].dtype}, spec {column.dtype}")
        else:
            hint = did_you_mean(name, extras)
            report.lines.append(f"  MISSING  {name}{hint}")
            report.errors.append(f"column '{name}': in the spec's schema but not in the data{hint}")
    for name in extras:
        hint = did_you_mean(name, missing)
        report.lines.append(f"  EXTRA    {name}{hint}")
        report.errors.append(
            f"column '{name}': in the data but not in the spec's schema{hint} (add it to schema, and to "
            "features.exclude if it is no feature)"
        )


_PARTS = (("month", "month_column"), ("day", "day_column"), ("hour", "hour_column"))


def _time(
    frame: pd.DataFrame, spec: ProjectSpec, keys: Sequence[str], report: DataCheck
) -> pd.DataFrame | None:
    if spec.time.column is not None:
        try:
            fmt = time_format(frame, spec.time)
            times = parse_time_axis(frame, spec.time)
        except TimeAxisError as err:
            report.errors.append(str(err))
            return None
        # "read as year" alone would hide the month and day columns that make the axis daily.
        parts = [fmt] + [p for p, c in _PARTS if getattr(spec.time, c)]
        report.lines.append(f"time: {time_axis_text(spec)} read as {' + '.join(parts)}")
    else:
        assert spec.time.arrival is not None
        step = pd.Timedelta(spec.time.arrival.cadence)
        start = pd.Timestamp(spec.time.arrival.start).tz_localize(None)
        times = pd.Series(start + step * pd.RangeIndex(len(frame)), index=frame.index)
        report.lines.append(f"time: {time_axis_text(spec)}")
    timed = frame.assign(**{EVENT_TIME: times.to_numpy(dtype="datetime64[ns]")})
    found = coverage(timed, spec, keys)
    grain = spec.partitions.grain.value
    report.lines.append(f"  rows from {found.first_time} to {found.last_time}")
    problem = coverage_problem(found, spec)
    if problem is not None:
        report.errors.append(problem)
        return None
    nonempty = list(found.rows)
    low, median, high = found.sizes() or (0, 0.0, 0)
    report.lines.append(
        f"partitions: {found.non_empty} non-empty of {len(keys)} {grain} partitions, first {nonempty[0]}, "
        f"last {nonempty[-1]}; rows per partition min {low}, median {median:g}, max {high}"
    )
    outside = found.outside()
    if outside is not None:
        report.warnings.append(outside)
    hint = end_hint(spec, found.last_time)  # a finished dataset's partitions should stop at its end
    if hint is not None:
        report.warnings.append(hint)
    empty = len(keys) - found.non_empty
    if empty:
        report.warnings.append(
            f"{empty} of {len(keys)} partitions hold no row: each run over one is blocked (row count 0); "
            "demo steps over them"
        )
    needed = first_model_partitions(spec)
    # A partition after the first model's window must remain: none, and nothing is ever scored or
    # monitored (the backtest refuses such data with the same counts).
    if found.non_empty <= needed:
        report.errors.append(
            f"partitions: {found.non_empty} partition(s) with rows; the first model needs {needed} "
            "(training.window_partitions // 2 + training.holdout_partitions + "
            "monitoring.label_delay_partitions) and at least one more partition must remain to score: "
            f"lower them or choose a finer partitions.grain than {grain}"
        )
    keyed = partition_keys(timed[EVENT_TIME], grain, spec.partitions.week_start)
    return timed.assign(**{PARTITION: keyed.to_numpy()})[keyed.isin(set(nonempty)).to_numpy()]


def _target(frame: pd.DataFrame, spec: ProjectSpec, report: DataCheck) -> None:
    target = frame[spec.target]
    nulls = int(target.isna().sum())
    present = target.dropna()
    missing = f", {nulls} without a label" if nulls else ""
    if spec.task.is_classification:
        counts = present.astype(str).value_counts()
        shown = ", ".join(f"{label!r} {n}" for label, n in counts.head(10).items())
        report.lines.append(
            f"target: {spec.target} ({spec.task.value}): {len(counts)} labels: {shown}{missing}"
        )
        if len(counts) < 2:
            report.errors.append(
                f"target '{spec.target}': {len(counts)} label(s); a classifier needs at least 2"
            )
        elif spec.task.value == "binary" and len(counts) > 2:
            report.errors.append(
                f"target '{spec.target}': {len(counts)} labels for task binary: set task: multiclass"
            )
        else:
            _first_labels(frame, spec, report)
    else:
        values = present.astype("float64")
        summary = (
            f"{values.min():g} .. {values.max():g}, median {values.median():g}" if len(values) else "none"
        )
        report.lines.append(f"target: {spec.target} (regression): {len(values)} values, {summary}{missing}")
        if len(values) and values.nunique() < 2:
            report.errors.append(
                f"target '{spec.target}': one value only ({values.iloc[0]:g}); nothing to learn"
            )


def _first_labels(frame: pd.DataFrame, spec: ProjectSpec, report: DataCheck) -> None:
    """A classifier's first partitions holding one label: the first model waits (`readiness`)."""
    first = sorted(set(frame[PARTITION]))[: first_model_partitions(spec)]
    labels = frame.loc[frame[PARTITION].isin(first), spec.target].dropna().astype(str).unique()
    if len(labels) == 1:
        report.warnings.append(
            f"target '{spec.target}': the first {len(first)} partitions ({first[0]}..{first[-1]}) hold one "
            f"label, {labels[0]!r}: the first model waits until its window holds two (demo and backtest "
            "name the partition)"
        )


def _quarantine(frame: pd.DataFrame, spec: ProjectSpec, report: DataCheck) -> None:
    from mlops_pipelines.lib.validation.gx import validate_partitions
    from mlops_pipelines.lib.validation.rules import check_rules
    from mlops_pipelines.lib.validation.stage import reason_counts

    keys = list(dict.fromkeys(frame[PARTITION]))
    outcomes = validate_partitions(frame.reset_index(drop=True), spec, keys)
    rejected = pd.concat([o.quarantine for o in outcomes.values()], ignore_index=True)
    report.lines.append(f"quarantine: {len(rejected)} of {len(frame)} rows would be quarantined")
    for reason in reason_counts(rejected, _TOP):
        report.lines.append(f"  {reason.rows} row(s): {reason.reason}")
    blocked = {k: list(o.batch_problems) for k, o in outcomes.items() if o.batch_problems}
    warned: dict[str, list[str]] = {}
    for finding in check_rules(frame, spec, keys, datetime.now(UTC).replace(tzinfo=None)):
        into = blocked if finding.severity == "block" else warned
        into.setdefault(finding.partition, []).append(finding.message)
    for message, count in pd.Series([m for ms in warned.values() for m in ms]).value_counts().items():
        report.warnings.append(f"{count} partition(s): {message}")
    if not blocked:
        return
    problems = pd.Series([p for ps in blocked.values() for p in ps]).value_counts()
    report.lines.append(f"blocked: {len(blocked)} of {len(keys)} non-empty partitions would be blocked")
    for problem, n in problems.head(_TOP).items():
        report.lines.append(f"  {n} partition(s): {problem}")
    message = f"{len(blocked)} of {len(keys)} partitions would be blocked, e.g. {next(iter(blocked))}: "
    message += "; ".join(next(iter(blocked.values())))
    # Most partitions blocked is no data problem but a spec that does not fit the data.
    most = 2 * len(blocked) > len(keys)
    (report.errors if most else report.warnings).append(
        message + ("; most partitions: fix the spec" if most else "")
    )


def check_data(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path, keys: Sequence[str]) -> DataCheck:
    """Everything `validate-spec --data` prints about `spec` on the data under `data_dir`."""
    from mlops_pipelines.lib.ingestion.conform import conform

    report = DataCheck()
    if spec.source.kind == "simulator":
        report.lines.append("source: the built-in simulator (nothing to check against)")
        return report
    try:
        frame = read_columns(spec, data_dir, cache_dir)
    except SourceError as err:
        report.errors.append(str(err))
        return report
    report.lines.append(f"source: {len(frame)} rows x {len(frame.columns)} columns")
    _columns(frame, spec, report)
    timed = _time(frame, spec, keys, report)
    if report.errors or timed is None:
        return report
    conformed = conform(timed, spec)
    if conformed.frame is None:
        report.errors.extend(p.message for p in conformed.problems)
        return report
    _target(conformed.frame, spec, report)
    _quarantine(conformed.frame, spec, report)
    return report
