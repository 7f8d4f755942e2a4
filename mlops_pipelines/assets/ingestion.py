"""Raw data per time partition: read from the source, typed by the spec, stored as a Delta version.

The stage work is `lib.ingestion.stage.ingest_partitions`. A batch whose structure does not
match the spec (missing, extra or retyped column) cannot be typed: its rows go to the
quarantine table with the reason, its partition holds no rows, and the blocking `schema` check
fails with ERROR so nothing downstream runs on it.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import (
    asset_key,
    partition_slice_metadata,
    problems_text,
    records_table,
    run_partition_keys,
    slice_metadata,
)
from mlops_pipelines.assets.partitioned import add_partition_metadata
from mlops_pipelines.partitions import partition_window, partitions_for
from mlops_pipelines.resources import DataSource, Lakehouse
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.ingestion.stage import IngestionResult


def build_raw_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    raw_key = asset_key(spec, names.RAW)

    @dg.asset(
        key=raw_key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"pandas", "delta"},
        description=f"Raw rows of {spec.name} per {spec.partitions.grain.value} partition, typed by the spec.",
        check_specs=[
            dg.AssetCheckSpec(
                names.SCHEMA_CHECK,
                asset=raw_key,
                blocking=True,
                description="Every column of the spec arrived, no extra ones, each castable to its dtype.",
            )
        ],
    )
    def raw(
        context: dg.AssetExecutionContext, data_source: DataSource, lakehouse: Lakehouse
    ) -> Iterator[Any]:
        from mlops_pipelines.lib.ingestion.stage import ingest_partitions  # pandas loads in the step

        windows = {key: partition_window(spec, key) for key in run_partition_keys(context)}
        result = ingest_partitions(spec, windows, data_source, lakehouse)
        add_partition_metadata(context, raw_key, raw_by_partition(result))
        yield dg.Output(result.raw, metadata=raw_metadata(result))
        yield schema_check(result)

    return raw


def raw_metadata(result: "IngestionResult") -> dict[str, Any]:
    metadata = {
        **slice_metadata(result.raw),
        names.META_SOURCE: result.source,
        names.META_ROWS_READ: result.total_rows_read,
        names.META_PARTITIONS_REJECTED: len(result.rejected),
    }
    if len(result.rows_read) == 1:
        [metadata[names.META_ROWS_PER_PARTITION]] = result.rows_read.values()
    return metadata


def raw_by_partition(result: "IngestionResult") -> dict[str, dict[str, Any]]:
    """Each partition's own counts: rows its window held, rows stored (none when its batch was
    rejected whole) and its schema problems; the range's totals stay on the run's Output only."""
    problems: dict[str, int] = {}
    for issue in result.issues:
        problems[issue.partition] = problems.get(issue.partition, 0) + 1
    return {
        partition: {
            **partition_slice_metadata(result.raw, partition, 0 if partition in problems else read),
            names.META_ROWS_READ: read,
            names.META_ROWS_PER_PARTITION: read,
            names.META_PARTITIONS_REJECTED: int(partition in problems),
            names.META_PROBLEM_COUNT: problems.get(partition, 0),
        }
        for partition, read in result.rows_read.items()
    }


def schema_check(result: "IngestionResult") -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=names.SCHEMA_CHECK,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=problems_text([(i.partition, i.problem) for i in result.issues]),
        metadata={
            names.META_PROBLEMS: records_table(result.issues),
            names.META_PROBLEM_COUNT: len(result.issues),
            names.META_BLOCKED_PARTITIONS: dg.MetadataValue.json(
                sorted({i.partition for i in result.issues})
            ),
        },
    )
