"""`validation.rules` judged in pandas (spec_rules.py): stuck columns, future timestamps, and the
warn-severity twins of the rules Great Expectations judges when they block (unique keys, null
shares; lib/validation/suite.py adds those to the GX suite).

A stuck column is judged over the rows one validation run sees, in event-time order (the demo
validates blocks of 14-28 partitions; `validate-spec --data` the whole history): a run of one
value at least `min_rows` long flags every partition that holds part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines.spec_rules import NoFutureRule, NullShareRule, StuckRule, UniqueKeyRule


@dataclass(frozen=True)
class RuleFinding:
    partition: str
    rule: str  # stuck, unique_key, no_future, null_share
    column: str | None
    severity: str  # block or warn
    message: str


def _stuck(frame: pd.DataFrame, rule: StuckRule) -> list[tuple[str, str]]:
    ordered = frame.sort_values(EVENT_TIME, kind="stable") if EVENT_TIME in frame.columns else frame
    values = ordered[rule.column]
    runs = (values.ne(values.shift()) | values.isna()).cumsum()
    lengths = runs.map(runs.value_counts())
    stuck = (lengths >= rule.min_rows) & values.notna()
    found: list[tuple[str, str]] = []
    for _, run in ordered[stuck.to_numpy()].groupby(runs[stuck].to_numpy(), sort=False):
        span = ""
        if EVENT_TIME in run.columns:
            span = f" ({run[EVENT_TIME].iloc[0]}..{run[EVENT_TIME].iloc[-1]})"
        value = run[rule.column].iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        message = (
            f"column '{rule.column}' is stuck: the value {value!r} repeats in {len(run)} rows in "
            f"a row{span}, at least {rule.min_rows} (validation.rules stuck)"
        )
        found.extend((str(key), message) for key in dict.fromkeys(run[PARTITION]))
    return found


def _future(frame: pd.DataFrame, rule: NoFutureRule, now: datetime) -> list[tuple[str, str]]:
    if EVENT_TIME not in frame.columns:
        return []
    limit = pd.Timestamp(now) + pd.Timedelta(rule.tolerance)
    late = frame[frame[EVENT_TIME] > limit]
    return [
        (
            str(key),
            f"{len(rows)} row(s) have an event time after {limit} (now + {rule.tolerance}), e.g. "
            f"{rows[EVENT_TIME].iloc[0]} (validation.rules no_future)",
        )
        for key, rows in late.groupby(PARTITION, sort=False)
    ]


def _repeated_keys(frame: pd.DataFrame, rule: UniqueKeyRule) -> list[tuple[str, str]]:
    keyed = frame.dropna(subset=rule.columns)
    repeated = keyed[keyed.duplicated([PARTITION, *rule.columns], keep="first")]
    return [
        (
            str(key),
            f"{len(rows)} row(s) repeat a key of {rule.columns}, e.g. {rows[rule.columns].iloc[0].to_dict()} "
            "(validation.rules unique_key)",
        )
        for key, rows in repeated.groupby(PARTITION, sort=False)
    ]


def _null_share(frame: pd.DataFrame, rule: NullShareRule) -> list[tuple[str, str]]:
    shares = frame[rule.column].isna().groupby(frame[PARTITION], sort=False).mean()
    return [
        (
            str(key),
            f"column '{rule.column}': {share:.1%} nulls, above {rule.max:.1%} (validation.rules null_share)",
        )
        for key, share in shares.items()
        if share > rule.max
    ]


def check_rules(
    frame: pd.DataFrame, spec: ProjectSpec, partitions: Sequence[str], now: datetime
) -> list[RuleFinding]:
    """Findings of the rules judged here, in rule order then partition order (`now`: naive UTC)."""
    order = {key: i for i, key in enumerate(partitions)}
    findings: list[RuleFinding] = []
    for rule in spec.validation.rules:
        blocking_in_gx = rule.severity == "block" and isinstance(rule, UniqueKeyRule | NullShareRule)
        if blocking_in_gx or frame.empty:
            continue
        if isinstance(rule, StuckRule):
            found = _stuck(frame, rule)
        elif isinstance(rule, NoFutureRule):
            found = _future(frame, rule, now)
        elif isinstance(rule, UniqueKeyRule):
            found = _repeated_keys(frame, rule)
        else:
            found = _null_share(frame, rule)
        column = getattr(rule, "column", None)
        found.sort(key=lambda item: order.get(item[0], np.inf))
        findings.extend(RuleFinding(key, rule.rule, column, rule.severity, text) for key, text in found)
    return findings
