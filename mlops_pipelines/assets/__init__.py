"""Asset factories per lifecycle stage; `build_project_assets` wires one project's graph."""

from __future__ import annotations

import dagster as dg

from mlops_pipelines.assets.deployment import build_deployment_asset
from mlops_pipelines.assets.evaluation import build_evaluation_asset
from mlops_pipelines.assets.features import build_features_asset
from mlops_pipelines.assets.ingestion import build_raw_asset
from mlops_pipelines.assets.monitoring import build_drift_asset, build_performance_asset
from mlops_pipelines.assets.promotion import build_promotion_asset
from mlops_pipelines.assets.raw_checks import build_raw_checks
from mlops_pipelines.assets.scoring import build_predictions_asset
from mlops_pipelines.assets.training import build_model_asset
from mlops_pipelines.assets.validation import build_validation_assets
from mlops_pipelines.spec import ProjectSpec


def build_project_assets(spec: ProjectSpec) -> list[dg.AssetsDefinition]:
    return [
        build_raw_asset(spec),
        build_raw_checks(spec),  # freshness and row count, after raw in every job that ingests
        build_validation_assets(spec),
        build_features_asset(spec),
        build_model_asset(spec),
        build_evaluation_asset(spec),
        build_promotion_asset(spec),
        build_predictions_asset(spec),
        build_drift_asset(spec),
        build_performance_asset(spec),
        build_deployment_asset(spec),
    ]
