"""Each partition's own truth when one run materializes a partition range.

A range run (single-run backfill) yields one Output, and Dagster copies that Output's metadata
onto every partition's materialization, so every partition would show the numbers of whichever
partition the asset happened to summarise. The pinned Dagster (1.13) has two mechanisms that
give each partition its own record:

- `context.add_asset_metadata(metadata, partition_key=p)`: partition-scoped metadata lands on
  that partition's materialization only, over any key of the Output's. The asset's Plots tab,
  by partition, reads these numbers.
- `AssetCheckEvaluation(partition=p, ...)` yielded from the asset body, on a check spec that
  carries the asset's `partitions_def`. An `AssetCheckResult` has no partition: in a range run
  it is recorded for no partition at all. Each evaluation names its partition's materialization
  of this run as its target, so the UI counts the result current for that partition (without a
  target it would clear it). The body then yields the check's empty output itself, which is
  what an `AssetCheckResult` would have yielded for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)


@dataclass(frozen=True)
class PartitionVerdict:
    """One partition's check result."""

    partition: str
    passed: bool
    severity: dg.AssetCheckSeverity
    description: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def partitioned_check(
    name: str, key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None, description: str
) -> dg.AssetCheckSpec:
    """A check spec with the asset's partitions: one pass/warn/fail per partition in the UI."""
    with warnings.catch_warnings():
        # "partitions_def on an AssetCheckSpec is in preview": it is the documented way to get a
        # result per partition in 1.13, and the warning tells a user of the UI nothing to do.
        warnings.filterwarnings(
            "ignore", message=".*partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
        )
        return dg.AssetCheckSpec(name, asset=key, partitions_def=partitions_def, description=description)


def add_partition_metadata(
    context: dg.AssetExecutionContext, key: dg.AssetKey, by_partition: Mapping[str, Mapping[str, Any]]
) -> None:
    """Each partition's own metadata on its own materialization; call before yielding the Output."""
    for partition, metadata in by_partition.items():
        context.add_asset_metadata(dict(metadata), asset_key=key, partition_key=partition)


def _run_targets(
    context: dg.AssetExecutionContext, key: dg.AssetKey, partitions: Sequence[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """This run's materialization of each partition (newest first, one query)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions)), limit=2 * len(partitions)
    ).records
    targets: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:
        entry = record.event_log_entry
        partition = record.partition_key
        if entry.run_id != context.run_id or partition is None or partition in targets:
            continue
        targets[partition] = AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=entry.run_id, timestamp=entry.timestamp
        )
    return targets


def partition_check_results(
    context: dg.AssetExecutionContext, check: dg.AssetCheckKey, verdicts: Sequence[PartitionVerdict]
) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
    """One evaluation per partition, then the check's output; yield after the asset's Output so
    each evaluation can name the materialization it judged. Nothing when the check is not selected."""
    if check not in context.selected_asset_check_keys:
        return
    [spec] = [s for s in context.assets_def.check_specs if s.key == check]
    targets = _run_targets(context, check.asset_key, [v.partition for v in verdicts])
    for verdict in verdicts:
        yield dg.AssetCheckEvaluation(
            asset_key=check.asset_key,
            check_name=check.name,
            passed=verdict.passed,
            metadata=dict(verdict.metadata),
            target_materialization_data=targets.get(verdict.partition),
            severity=verdict.severity,
            description=verdict.description,
            blocking=spec.blocking,
            partition=verdict.partition,
        )
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(check))
