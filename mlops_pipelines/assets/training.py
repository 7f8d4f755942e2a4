"""The trained model: tuned and cross-validated on a pinned features version, tracked in MLflow,
registered as `challenger`."""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key
from mlops_pipelines.lib.training.window import ModelArtifact
from mlops_pipelines.resources import Lakehouse, MlflowTracking
from mlops_pipelines.spec import ProjectSpec

REPO_DIR = Path(__file__).resolve().parents[2]


class TrainingConfig(dg.Config):
    """Run-time choices of one training run; the spec holds every tunable of the model itself."""

    as_of: str | None = None  # newest partition the window may use; default: newest materialized
    reason: str = "manual"  # why this run trains (recorded in MLflow tags and metadata)


def build_model_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, "model"),
        group_name=spec.name,
        deps=[asset_key(spec, "features")],
        kinds={"scikitlearn", "mlflow"},
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
        from mlops_pipelines.lib.registry.aliases import register_challenger
        from mlops_pipelines.lib.registry.provenance import collect_provenance
        from mlops_pipelines.lib.registry.tracking import log_training_run
        from mlops_pipelines.lib.training.search import train_model
        from mlops_pipelines.lib.training.window import select_window, split_features

        # Pin one version of the features table: everything below reads exactly it.
        version = lakehouse.version(spec.name, "features")
        if version < 0:
            raise dg.Failure(
                f"{spec.name}: the features table does not exist yet; materialize features first"
            )
        window = select_window(lakehouse.partitions(spec.name, "features", version), spec, config.as_of)
        rows = lakehouse.read(spec.name, "features", keys=list(window.train), version=version)
        labelled = split_features(rows, spec)
        features = labelled.features
        trained = train_model(features, labelled.target, spec, event_time=labelled.event_time)
        data_sha = labelled.sha256
        tags = {
            "dagster.run_id": context.run_id,
            "dagster.asset_key": context.asset_key.to_user_string(),
            "mlops.project": spec.name,
            "mlops.reason": config.reason,
            "mlops.features_uri": lakehouse.uri(spec.name, "features"),
            "mlops.features_version": str(version),
            "mlops.train_partitions": f"{window.train[0]}..{window.train[-1]}",
            "mlops.holdout_partitions": f"{window.holdout[0]}..{window.holdout[-1]}",
            "mlops.as_of": window.as_of,
            "mlops.data_sha256": data_sha,
            "mlops.seed": str(spec.training.seed),
        }
        cfg = tracking.config()
        best = trained.cv_results.best
        logged = log_training_run(
            cfg,
            spec.name,
            pipeline=trained.pipeline,
            params={
                **trained.best_params,
                # The whole training section, so `reproduce` never has to trust the current spec.
                "family": spec.training.family,
                "seed": spec.training.seed,
                "cv_folds": spec.training.cv_folds,
                "search_iterations": spec.training.search_iterations,
                "search_space": json.dumps(spec.training.search_space, sort_keys=True),
                "primary_metric": spec.training.primary_metric,
                "window_partitions": spec.training.window_partitions,
                "holdout_partitions": spec.training.holdout_partitions,
            },
            metrics={
                f"cv_{trained.primary_metric}": best.mean_score,
                f"cv_{trained.primary_metric}_std": best.std_score,
                "n_train_rows": float(trained.n_train_rows),
                "training_seconds": trained.training_seconds,
            },
            cv_results=trained.cv_results.records(),
            figures={},
            input_example=features.head(5),
            task_is_classification=spec.task.is_classification,
            tags=tags,
            extra_json={"lineage": {**tags, "train": list(window.train), "holdout": list(window.holdout)}},
            provenance=collect_provenance(REPO_DIR),
            run_name=f"{spec.name}-{config.reason}-{window.as_of}",
        )
        ref = register_challenger(cfg, spec.name, logged, tags)
        artifact = ModelArtifact(
            project=spec.name,
            version=ref.version,
            run_id=logged.run_id,
            model_uri=f"models:/{spec.name}/{ref.version}",
            artifact_sha256=logged.artifact_sha256,
            features_uri=lakehouse.uri(spec.name, "features"),
            features_version=version,
            window=window,
            best_params=dict(trained.best_params),
            seed=spec.training.seed,
            primary_metric=trained.primary_metric,
            cv_score=best.mean_score,
            data_sha256=data_sha,
            n_train_rows=trained.n_train_rows,
            reason=config.reason,
            run_url=logged.run_url,
            tags=tags,
        )
        metadata: dict[str, Any] = {
            "model_version": ref.version,
            "mlflow_run_id": logged.run_id,
            f"cv_{trained.primary_metric}": best.mean_score,
            "train_rows": trained.n_train_rows,
            "train_partitions": f"{window.train[0]}..{window.train[-1]} ({len(window.train)})",
            "holdout_partitions": f"{window.holdout[0]}..{window.holdout[-1]} ({len(window.holdout)})",
            "features_version": version,
            "best_params": dg.MetadataValue.json(trained.best_params),
            "reason": config.reason,
            "artifact_sha256": logged.artifact_sha256,
        }
        if logged.run_url:
            metadata["mlflow_run"] = dg.MetadataValue.url(logged.run_url)
        return dg.Output(artifact, metadata=metadata)

    return model
