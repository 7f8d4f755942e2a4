"""Model-ready features per partition, built by the same pure function the HTTP service calls.

The stage work is `lib.features.build_features_slice`: exactly the rows the validated handle
pins (its partitions at its Delta version) through `feature_table` (model input, label, slice
and sensitive columns, event time, partition and row id) into the features table, replacing
those partitions. Training, batch scoring and monitoring read features only through the handle
this asset returns, so a later re-run of a day cannot change what a running step sees.
Run before its validated partitions exist, the step fails naming them (`resources.io`).

Metadata: the stored slice (table, version, partitions), the validated version the rows came
from (lineage down to a Delta version, without the UI graph), and the model's input columns
in model order: what training fits on and what the service must receive per request.
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
