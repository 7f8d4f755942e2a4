"""Model-ready features per partition, built by the same pure function the HTTP service calls."""

from typing import TYPE_CHECKING

import dagster as dg

from mlops_pipelines.assets.common import asset_key, slice_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    import pandas as pd


def feature_table(validated: "pd.DataFrame", spec: ProjectSpec) -> "pd.DataFrame":
    """Features, plus what training and evaluation need beside them: label, slices, time, partition."""
    from mlops_pipelines.lib.features import build_features, event_times
    from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID

    table = build_features(validated, spec)
    context_columns = [
        c for c in dict.fromkeys([*spec.sensitive_attributes, *spec.slices]) if c not in table.columns
    ]
    for column in context_columns:
        table[column] = validated[column]
    table[spec.target] = validated[spec.target]
    table[EVENT_TIME] = event_times(validated, spec)
    table[PARTITION] = validated[PARTITION]
    # A total order (time, partition, row) makes every later read and training run repeatable.
    table[ROW_ID] = validated[ROW_ID]
    return table


def build_features_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, "features"),
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"validated": dg.AssetIn(asset_key(spec, "validated"))},
        kinds={"pandas", "delta"},
        description="Model input columns (lib.features.build_features) with label, slices and event time.",
    )
    def features(
        context: dg.AssetExecutionContext, validated: TableSlice, lakehouse: Lakehouse
    ) -> dg.Output[TableSlice]:
        rows = lakehouse.read_slice(validated)
        table = feature_table(rows, spec)
        piece = lakehouse.write_partitions(spec.name, "features", table, list(validated.partitions))
        return dg.Output(
            piece,
            metadata={
                **slice_metadata(piece),
                "validated_version": validated.version,
                "feature_columns": dg.MetadataValue.json(
                    [c for c in table.columns if not c.startswith("_") and c != spec.target]
                ),
            },
        )

    return features
