"""The Great Expectations suite a project spec implies.

Every expectation carries its position in the suite in `meta[SUITE_KEY]`: GX returns results in
its own order, and the position maps each result back to the expectation that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines.spec_rules import NullShareRule, UniqueKeyRule

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

SUITE_KEY = "mlops_suite_position"

# Expectations whose unexpected rows are quarantined; every other one judges the whole batch.
ROW_LEVEL = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_unique",
    }
)


def build_expectations(spec: ProjectSpec, system_columns: Sequence[str] = (EVENT_TIME,)) -> list[Expectation]:
    """Table-level then per-column expectations for a conformed batch of `spec`.

    `system_columns` are the '_'-prefixed columns the batch is allowed to carry besides the spec's.
    There is no per-column type expectation: GX's pandas type check compares only numpy scalar
    types (it cannot tell 'Int64' from 'int64') and checks object columns value by value in
    Python; validation checks the exact conformed dtypes itself, in pandas.
    """
    import great_expectations.expectations as gxe

    found: list[Expectation] = [
        # Column-map expectations pass vacuously on an empty batch: the row count must be checked.
        gxe.ExpectTableRowCountToBeBetween(min_value=spec.validation.min_rows),
        gxe.ExpectTableColumnsToMatchSet(column_set=[*spec.columns, *system_columns], exact_match=True),
    ]
    for name, column in spec.columns.items():
        if column.nullable and not column.sparse:
            # An all-null column fails the batch even when nulls are allowed (a sparse one is
            # mostly null anyway). For a non-nullable column the not-null check already flags
            # every row; validation names the column.
            found.append(
                gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                    column=name, min_value=0, strict_min=True
                )
            )
        elif not column.nullable:
            found.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if column.min is not None or column.max is not None:
            found.append(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=column.min, max_value=column.max)
            )
        if column.categories is not None and column.unseen == "reject":
            found.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(column.categories)))
    if spec.validation.reject_duplicates:
        columns = list(spec.columns)
        if len(columns) > 1:
            # GX flags every occurrence of a repeated row; the caller keeps the first one.
            found.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=columns, ignore_row_if="never"))
        else:
            found.append(gxe.ExpectColumnValuesToBeUnique(column=columns[0]))
    for rule in spec.validation.rules:  # blocking rules GX has an expectation for (spec_rules.py)
        if rule.severity != "block":
            continue
        if isinstance(rule, UniqueKeyRule):
            # Rows with a missing key part are not compared; the repeats are quarantined.
            found.append(
                gxe.ExpectCompoundColumnsToBeUnique(
                    column_list=list(rule.columns), ignore_row_if="any_value_is_missing"
                )
            )
        elif isinstance(rule, NullShareRule):
            found.append(
                gxe.ExpectColumnProportionOfNonNullValuesToBeBetween(
                    column=rule.column, min_value=1 - rule.max
                )
            )
    for position, expectation in enumerate(found):
        expectation.meta = {**(expectation.meta or {}), SUITE_KEY: position}
    return found
