"""Batch scoring per partition with the champion the lineage hands on, into the prediction log.

The stage work is `lib.scoring.stage.score_partitions`. The `champion` asset's value (a
`ChampionRef`) is an input, so each materialization names the champion version it used (None
before the first promotion, when nothing is scored) and the graph shows the hop. The HTTP
service appends to the same Delta table with routes champion, shadow and canary; this asset
only ever replaces its own `batch` rows of its partitions.
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, partition_slice_metadata, retry_on_outage, slice_metadata
from mlops_pipelines.assets.partitioned import add_partition_metadata
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.scoring.stage import ScoringResult


def champion_input(spec: ProjectSpec) -> dg.AssetIn:
    """The `champion` asset as an input: None until the first promotion materializes it."""
    return dg.AssetIn(asset_key(spec, names.CHAMPION), metadata={names.OPTIONAL_INPUT: True})


def scoring_metadata(result: "ScoringResult") -> dict[str, Any]:
    """Metadata of a `ScoringResult`: the slice written, the champion used, mean outputs."""
    return {
        **slice_metadata(result.predictions),
        names.META_CHAMPION_VERSION: result.champion_version,
        names.META_MEAN_PREDICTION: result.mean_prediction,
        names.META_MEAN_SCORE: result.mean_score,
    }


def predictions_by_partition(result: "ScoringResult") -> dict[str, dict[str, Any]]:
    """Each scored partition's own rows and mean outputs; the range's totals stay on the Output."""
    return {
        partition: {
            **partition_slice_metadata(result.predictions, partition, scores.rows),
            names.META_MEAN_PREDICTION: scores.mean_prediction,
            names.META_MEAN_SCORE: scores.mean_score,
        }
        for partition, scores in result.partitions.items()
    }


def build_predictions_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, names.PREDICTIONS)

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            names.FEATURES: dg.AssetIn(asset_key(spec, names.FEATURES)),
            names.CHAMPION: champion_input(spec),
        },
        kinds={"pandas", "delta", "mlflow"},
        description="The champion's predictions for each partition, appended to the prediction log (route 'batch').",
    )
    def predictions(
        context: dg.AssetExecutionContext,
        features: TableSlice,
        champion: ChampionRef | None,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
    ) -> dg.Output[TableSlice]:
        from mlops_pipelines.lib.scoring.stage import score_partitions

        with retry_on_outage(context):
            result = score_partitions(spec, features, champion, lakehouse, tracking.config())
        if result.champion_version is None:
            context.log.info(f"{spec.name}: no champion yet, nothing to score")
        add_partition_metadata(context, key, predictions_by_partition(result))
        return dg.Output(result.predictions, metadata=scoring_metadata(result))

    return predictions
