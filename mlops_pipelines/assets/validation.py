"""Validated rows and the quarantine, from one Great Expectations run over the run's raw partitions.

The stage work is `lib.validation.stage.validate_raw_slice`: the suite is generated from the
spec and each partition is judged as if validated alone, in one GX run per step. Rows that
fail a row-level expectation go to the quarantine table with their reasons; batch-level
failures (row count, all-null column, too many rejected rows, an expectation that errored)
fail the blocking `expectations` check with ERROR, so features, training and scoring never
see that batch. A raw slice that cannot be validated at all fails the step.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, problems_text, records_table, slice_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.validation.stage import ValidationResult


def build_validation_assets(spec: ProjectSpec) -> dg.AssetsDefinition:
    validated_key = asset_key(spec, names.VALIDATED)

    @dg.multi_asset(
        name=names.scoped(spec.name, names.VALIDATE_OP),
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={names.RAW: dg.AssetIn(asset_key(spec, names.RAW))},
        outs={
            names.VALIDATED: dg.AssetOut(
                key=validated_key,
                kinds={"pandas", "delta", "great_expectations"},
                description="Rows that passed every expectation of the spec's suite.",
            ),
            names.QUARANTINE: dg.AssetOut(
                key=asset_key(spec, names.QUARANTINE),
                kinds={"delta"},
                description="Every rejected row with its reasons and original payload; nothing is dropped.",
            ),
        },
        check_specs=[
            dg.AssetCheckSpec(
                names.EXPECTATIONS_CHECK,
                asset=validated_key,
                blocking=True,
                description="Great Expectations suite from the spec: row count, nulls, ranges, "
                "categories, duplicates.",
            )
        ],
    )
    def validate(context: dg.AssetExecutionContext, raw: TableSlice, lakehouse: Lakehouse) -> Iterator[Any]:
        from mlops_pipelines.lib.validation.stage import ValidationStageError, validate_raw_slice

        try:
            result = validate_raw_slice(spec, raw, lakehouse)
        except ValidationStageError as err:
            raise dg.Failure(str(err)) from err
        yield dg.Output(result.validated, output_name=names.VALIDATED, metadata=validated_metadata(result))
        yield dg.Output(
            result.quarantine,
            output_name=names.QUARANTINE,
            metadata={
                **slice_metadata(result.quarantine),
                names.META_QUARANTINE_REASONS: records_table(result.reasons),
            },
        )
        yield expectations_check(result, validated_key)

    return validate


def validated_metadata(result: "ValidationResult") -> dict[str, Any]:
    return {
        **slice_metadata(result.validated),
        names.META_ROWS_IN: result.rows_in,
        names.META_ROWS_QUARANTINED: result.rows_quarantined,
        names.META_QUARANTINE_SHARE: result.quarantine_share,
        names.META_RAW_VERSION: result.raw_version,
    }


def expectations_check(result: "ValidationResult", validated_key: dg.AssetKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=names.EXPECTATIONS_CHECK,
        asset_key=validated_key,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        # Failures first, then validation.rules findings of severity warn (they block nothing).
        description=problems_text(
            [(f.partition, f.problem) for f in result.failures]
            + [(w.partition, f"warning: {w.problem}") for w in result.warnings]
        ),
        metadata={
            names.META_BATCH_FAILURES: records_table(result.failures),
            names.META_FAILED_EXPECTATIONS: records_table(result.failed_expectations),
            names.META_ROWS_QUARANTINED: result.rows_quarantined,
            names.META_BLOCKED_PARTITIONS: dg.MetadataValue.json(
                sorted({f.partition for f in result.failures})
            ),
        },
    )
