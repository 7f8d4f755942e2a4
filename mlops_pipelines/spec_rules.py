"""`validation.rules`: data rules beyond the schema, each blocking or a warning.

    validation:
      rules:
        - {rule: stuck, column: temp, min_rows: 500}          # constant for >= 500 rows in a row
        - {rule: unique_key, columns: [station, timestamp]}   # no key twice in a partition
        - {rule: no_future, tolerance: PT1H}                  # no event time after now + 1 h
        - {rule: null_share, column: humidity, max: 0.1}      # at most 10 % nulls per partition

`severity: block` (default) fails the partition (unique_key quarantines the repeats instead,
as the built-in duplicate check does); `severity: warn` reports and lets it through. Where
Great Expectations has the expectation (unique_key: expect_compound_columns_to_be_unique,
null_share: expect_column_proportion_of_non_null_values_to_be_between) a blocking rule runs
in the GX suite; stuck (no GX expectation for run length) and no_future (judged against the
clock at validation) run in pandas (lib/validation/rules.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["block", "warn"]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    severity: Severity = "block"


class StuckRule(_Rule):
    rule: Literal["stuck"]
    column: str
    min_rows: int = Field(ge=2, description="a run of one value at least this long is 'stuck'")


class UniqueKeyRule(_Rule):
    rule: Literal["unique_key"]
    columns: list[str] = Field(min_length=1)


class NoFutureRule(_Rule):
    rule: Literal["no_future"]
    tolerance: timedelta = timedelta(0)


class NullShareRule(_Rule):
    rule: Literal["null_share"]
    column: str
    max: float = Field(ge=0, lt=1)


Rule = Annotated[StuckRule | UniqueKeyRule | NoFutureRule | NullShareRule, Field(discriminator="rule")]


def rule_columns(rule: StuckRule | UniqueKeyRule | NoFutureRule | NullShareRule) -> list[str]:
    """The spec columns a rule names (checked against the schema)."""
    if isinstance(rule, UniqueKeyRule):
        return list(rule.columns)
    if isinstance(rule, StuckRule | NullShareRule):
        return [rule.column]
    return []
