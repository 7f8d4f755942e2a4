"""Validated rows and the quarantine, from one Great Expectations run over the run's raw partitions.

The suite is generated from the spec; each partition is judged as if validated alone
(`lib.validation.gx.validate_partitions`), so a backfill pays GX's fixed cost once, not per day.
Rows that fail a row-level expectation go to the quarantine table with their reasons;
batch-level failures (row count, all-null column, too many rejected rows, an expectation that
errored) fail the blocking `expectations` check with ERROR, so features, training and scoring
never see that batch.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table, slice_metadata
from mlops_pipelines.assets.ingestion import QUARANTINE_STAGE, quarantine_rows
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec


def build_validation_assets(spec: ProjectSpec) -> dg.AssetsDefinition:
    validated_key = asset_key(spec, "validated")
    quarantine_key = asset_key(spec, "quarantine")

    @dg.multi_asset(
        name=f"{spec.name}__validate",
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"raw": dg.AssetIn(asset_key(spec, "raw"))},
        outs={
            "validated": dg.AssetOut(
                key=validated_key,
                kinds={"pandas", "delta", "great_expectations"},
                description="Rows that passed every expectation of the spec's suite.",
            ),
            "quarantine": dg.AssetOut(
                key=quarantine_key,
                kinds={"delta"},
                description="Every rejected row with its reasons and original payload; nothing is dropped.",
            ),
        },
        check_specs=[
            dg.AssetCheckSpec(
                "expectations",
                asset=validated_key,
                blocking=True,
                description="Great Expectations suite from the spec: row count, nulls, ranges, "
                "categories, duplicates.",
            )
        ],
    )
    def validate(context: dg.AssetExecutionContext, raw: TableSlice, lakehouse: Lakehouse) -> Iterator[Any]:
        import pandas as pd

        from mlops_pipelines.lib.ingestion.conform import conform
        from mlops_pipelines.lib.validation.gx import validate_partitions

        keys = list(raw.partitions)
        if not keys:
            raise dg.Failure(
                f"{spec.name}: raw holds no typed partition for this run; see the raw schema check"
            )
        # Re-typing after the Delta round trip (int64 -> Int64, us -> ns) is cheap and exact.
        conformed = conform(lakehouse.read_slice(raw), spec)
        if conformed.frame is None:
            problems = "; ".join(p.message for p in conformed.problems)
            raise dg.Failure(
                f"{spec.name} raw partitions {keys[0]}..{keys[-1]} no longer conform to the spec: {problems}"
            )
        frame = conformed.frame
        # One GX run for the whole run's partitions: GX's fixed cost per run dominates daily batches.
        outcomes = validate_partitions(frame, spec, keys)
        valid: list[pd.DataFrame] = []
        rejected: list[pd.DataFrame] = []
        failures: list[dict[str, Any]] = []
        expectations: list[dict[str, Any]] = []
        for key in keys:
            outcome = outcomes[key]
            valid.append(outcome.valid)
            rejected.append(quarantine_rows(outcome.quarantine, "expectations"))
            failures.extend({"partition": key, "problem": p} for p in outcome.batch_problems)
            expectations.extend(
                {
                    "partition": key,
                    "expectation": e.name,
                    "column": e.column or "",
                    "unexpected": e.unexpected_count,
                }
                for e in outcome.expectations
                if not e.success
            )
        valid_frame = pd.concat(valid, ignore_index=True)
        rejected_frame = pd.concat(rejected, ignore_index=True)
        validated = lakehouse.write_partitions(spec.name, "validated", valid_frame, keys)
        quarantine = lakehouse.write_partitions(
            spec.name, "quarantine", rejected_frame, keys, where={QUARANTINE_STAGE: "expectations"}
        )
        rows_in = len(frame)
        yield dg.Output(
            validated,
            output_name="validated",
            metadata={
                **slice_metadata(validated),
                "rows_in": rows_in,
                "rows_quarantined": len(rejected_frame),
                "quarantine_share": round(len(rejected_frame) / rows_in, 6) if rows_in else 0.0,
                "raw_version": raw.version,
            },
        )
        reasons = _reason_counts(rejected_frame)
        yield dg.Output(
            quarantine,
            output_name="quarantine",
            metadata={**slice_metadata(quarantine), "reasons": md_table(reasons)},
        )
        yield dg.AssetCheckResult(
            check_name="expectations",
            asset_key=validated_key,
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"{f['partition']}: {f['problem']}" for f in failures[:5]) or None,
            metadata={
                "batch_failures": md_table(failures),
                "failed_expectations": md_table(expectations),
                "rows_quarantined": len(rejected_frame),
            },
        )

    return validate


def _reason_counts(rejected: Any) -> list[dict[str, Any]]:
    if rejected.empty:
        return []
    counts = rejected["reasons"].str.split("; ").explode().value_counts().head(20)
    return [{"reason": reason, "rows": int(n)} for reason, n in counts.items()]
