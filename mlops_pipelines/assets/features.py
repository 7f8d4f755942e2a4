"""Model-ready features per partition, built by the same pure function the HTTP service calls."""

import dagster as dg

from mlops_pipelines.assets.common import asset_key, slice_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec


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
        from mlops_pipelines.lib.features import feature_table  # pandas loads in the step, not at import

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
