"""The trained model: tuned and cross-validated on a pinned features version, tracked in MLflow,
registered as `challenger`. The work is `lib.training.stage.train_challenger`; this wires it."""

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, retry_on_outage
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.resources import Lakehouse, MlflowTracking
from mlops_pipelines.spec import ProjectSpec


class TrainingConfig(dg.Config):
    """Run-time choices of one training run; the spec holds every tunable of the model itself."""

    as_of: str | None = None  # newest partition the window may use; default: newest materialized
    reason: str = "manual"  # why this run trains (recorded in MLflow tags and metadata)


def model_metadata(artifact: ModelArtifact) -> dict[str, Any]:
    window = artifact.window
    metadata: dict[str, Any] = {
        names.META_MODEL_VERSION: artifact.version,
        names.META_MLFLOW_RUN_ID: artifact.run_id,
        f"{names.META_CV_PREFIX}{artifact.primary_metric}": artifact.cv_score,
        names.META_TRAIN_ROWS: artifact.n_train_rows,
        names.META_TRAIN_PARTITIONS: f"{window.train_range} ({len(window.train)})",
        names.META_HOLDOUT_PARTITIONS: f"{window.holdout_range} ({len(window.holdout)})",
        names.META_FEATURES_VERSION: artifact.features_version,
        names.META_BEST_PARAMS: dg.MetadataValue.json(artifact.best_params),
        names.META_REASON: artifact.reason,
        names.META_ARTIFACT_SHA: artifact.artifact_sha256,
    }
    if window.evaluation:  # small partitions: evaluated further back than the holdout
        metadata[names.META_EVALUATION_PARTITIONS] = f"{window.evaluated_range} ({len(window.evaluation)})"
    if artifact.window_choice is not None:
        metadata[names.META_WINDOW_CHOICE] = dg.MetadataValue.json(artifact.window_choice)
    if artifact.run_url:
        metadata[names.META_MLFLOW_RUN] = dg.MetadataValue.url(artifact.run_url)
    return metadata


def build_model_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, names.MODEL),
        group_name=spec.name,
        deps=[asset_key(spec, names.FEATURES)],
        kinds={"scikitlearn", "mlflow"},
        op_tags={names.CELERY_QUEUE_TAG: names.TRAIN_QUEUE},  # the big-memory queue (Celery only)
        description=(
            f"{spec.training.family} for {spec.name}: hyperparameter search with time-ordered CV on the "
            "training window, logged to MLflow and registered with the alias `challenger`."
        ),
    )
    def model(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
    ) -> dg.Output[ModelArtifact]:
        from mlops_pipelines.lib.training.artifact import RunContext
        from mlops_pipelines.lib.training.stage import train_challenger
        from mlops_pipelines.run_records import reconcile_project

        # MLflow runs that failed or canceled runs left RUNNING are ended FAILED before a new one
        # starts: one search of the project's RUNNING runs, so every training step can afford it.
        with retry_on_outage(context):
            reconcile_project(context.instance, tracking.config(), spec.name)
            artifact = train_challenger(
                spec,
                lakehouse,
                tracking.config(),
                as_of=config.as_of,
                reason=config.reason,
                run_context=RunContext(context.run_id, context.asset_key.to_user_string()),
            )
        return dg.Output(artifact, metadata=model_metadata(artifact))

    return model
