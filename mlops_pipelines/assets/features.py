"""Model-ready features per partition, built by the same pure function the HTTP service calls.

The stage work is `lib.features.build_features_slice`: the validated slice's rows through
`feature_table` (model input, label, slice columns, event time) into the features table.
"""

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, slice_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec


def build_features_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, names.FEATURES),
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={names.VALIDATED: dg.AssetIn(asset_key(spec, names.VALIDATED))},
        kinds={"pandas", "delta"},
        description="Model input columns (lib.features.build_features) with label, slices and event time.",
    )
    def features(
        context: dg.AssetExecutionContext, validated: TableSlice, lakehouse: Lakehouse
    ) -> dg.Output[TableSlice]:
        from mlops_pipelines.lib.features import build_features_slice  # pandas loads in the step

        result = build_features_slice(spec, validated, lakehouse)
        return dg.Output(
            result.features,
            metadata={
                **slice_metadata(result.features),
                names.META_VALIDATED_VERSION: result.validated_version,
                names.META_FEATURE_COLUMNS: dg.MetadataValue.json(list(result.feature_columns)),
            },
        )

    return features
