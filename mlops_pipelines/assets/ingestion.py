"""Raw data per time partition: read from the source, typed by the spec, stored as a Delta version.

A batch whose structure does not match the spec (missing, extra or retyped column) cannot be
typed: its rows go to the quarantine table with the reason, its partition holds no rows, and
the blocking `schema` check fails with ERROR so nothing downstream runs on it.
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table, run_partition_keys, slice_metadata
from mlops_pipelines.lib.frames import PARTITION, ROW_ID, TableSlice
from mlops_pipelines.partitions import partition_window, partitions_for
from mlops_pipelines.resources import DataSource, Lakehouse
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    import pandas as pd

QUARANTINE_STAGE = "_stage"


def quarantine_rows(rows: "pd.DataFrame", stage: str) -> "pd.DataFrame":
    return rows.assign(**{QUARANTINE_STAGE: stage})


def build_raw_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    raw_key = asset_key(spec, "raw")

    @dg.asset(
        key=raw_key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"pandas", "delta"},
        description=f"Raw rows of {spec.name} per {spec.partitions.grain.value} partition, typed by the spec.",
        check_specs=[
            dg.AssetCheckSpec(
                "schema",
                asset=raw_key,
                blocking=True,
                description="Every column of the spec arrived, no extra ones, each castable to its dtype.",
            )
        ],
    )
    def raw(
        context: dg.AssetExecutionContext, data_source: DataSource, lakehouse: Lakehouse
    ) -> dg.Output[TableSlice] | Any:
        import pandas as pd

        from mlops_pipelines.lib.ingestion.conform import conform, quarantine_whole_batch

        keys = run_partition_keys(context)
        typed: list[pd.DataFrame] = []
        rejected: list[pd.DataFrame] = []
        problems: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for key in keys:
            start, end = partition_window(spec, key)
            batch = data_source.read_window(spec, start, end)
            counts[key] = len(batch)
            result = conform(batch, spec)
            if result.frame is None:
                rejected.append(
                    quarantine_rows(quarantine_whole_batch(batch, result.problems, key), "schema")
                )
                problems.extend(
                    {"partition": key, "column": p.column, "problem": p.message} for p in result.problems
                )
                continue
            frame = result.frame.copy()
            frame[PARTITION] = key
            frame[ROW_ID] = range(len(frame))
            typed.append(frame)

        if rejected:
            lakehouse.write_partitions(
                spec.name,
                "quarantine",
                pd.concat(rejected, ignore_index=True),
                sorted({str(k) for f in rejected for k in f[PARTITION]}),
                where={QUARANTINE_STAGE: "schema"},
            )
        good_keys = [k for k in keys if k not in {p["partition"] for p in problems}]
        if typed:
            piece = lakehouse.write_partitions(
                spec.name, "raw", pd.concat(typed, ignore_index=True), good_keys
            )
        else:
            piece = TableSlice(f"{spec.name}/raw", lakehouse.uri(spec.name, "raw"), -1, (), 0)
        metadata = {
            **slice_metadata(piece),
            "source": data_source.describe(spec),
            "rows_read": sum(counts.values()),
            "partitions_rejected": len(keys) - len(good_keys),
        }
        if len(keys) == 1:
            metadata["rows_per_partition"] = counts[keys[0]]
        yield dg.Output(piece, metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="schema",
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                "; ".join(f"{p['partition']}: {p['problem']}" for p in problems[:5]) if problems else None
            ),
            metadata={"problems": md_table(problems), "problem_count": len(problems)},
        )

    return raw
