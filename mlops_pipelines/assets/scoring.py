"""Batch scoring per partition with the model aliased `champion`, into the prediction log.

The champion is resolved when the step runs and its version is recorded on every row and in
the metadata. The HTTP service appends to the same Delta table with routes champion, shadow
and canary; this asset only ever replaces its own `batch` rows of its partitions.
"""

from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, slice_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking
from mlops_pipelines.spec import ProjectSpec


def build_predictions_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, "predictions"),
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"features": dg.AssetIn(asset_key(spec, "features"))},
        kinds={"pandas", "delta", "mlflow"},
        description="The champion's predictions for each partition, appended to the prediction log (route 'batch').",
    )
    def predictions(
        context: dg.AssetExecutionContext,
        features: TableSlice,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
    ) -> dg.Output[TableSlice]:
        from mlops_pipelines.lib.registry.aliases import get_alias
        from mlops_pipelines.lib.registry.model_loading import load_model
        from mlops_pipelines.lib.scoring.prediction_log import build_log_frame, predict_frame

        cfg = tracking.config()
        champion = get_alias(cfg, spec.name, "champion")
        if champion is None:
            context.log.info(f"{spec.name}: no champion yet, nothing to score")
            empty = TableSlice(f"{spec.name}/predictions", lakehouse.uri(spec.name, "predictions"), -1, (), 0)
            return dg.Output(empty, metadata={"champion_version": "none", "rows": 0})
        loaded = load_model(cfg, spec.name, champion.version)
        rows = lakehouse.read_slice(features)
        scored = predict_frame(spec, loaded.model.get_raw_model(), rows)
        request_ids = (rows["_partition"].astype(str) + ":" + rows["_row"].astype(str)).tolist()
        log = build_log_frame(spec, rows, scored, "batch", champion.version, request_ids, 0.0)
        piece = lakehouse.write_partitions(
            spec.name, "predictions", log, list(features.partitions), where={"route": "batch"}
        )
        metadata: dict[str, Any] = {**slice_metadata(piece), "champion_version": champion.version}
        if scored.value is not None and len(scored):
            metadata["mean_prediction"] = float(scored.value.mean())
        if scored.score is not None and len(scored):
            metadata["mean_score"] = float(scored.score.mean())
        return dg.Output(piece, metadata=metadata)

    return predictions
