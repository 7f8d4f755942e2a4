"""Resources for an environment, chosen in this one place so asset code never branches on it."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines.resources.alerts import AlertSink, FileAlertSink, WebhookAlertSink
from mlops_pipelines.resources.data import DataSource
from mlops_pipelines.resources.lakehouse import Lakehouse, LocalLakehouse, ObjectStoreLakehouse
from mlops_pipelines.resources.reports import ReportStore
from mlops_pipelines.resources.tracking import LocalMlflowTracking, MlflowTracking, ServerMlflowTracking
from mlops_pipelines.settings import Settings

__all__ = [
    "AlertSink",
    "DataSource",
    "Lakehouse",
    "MlflowTracking",
    "ReportStore",
    "resources_for",
]


def resources_for(settings: Settings) -> dict[str, Any]:
    common: dict[str, Any] = {
        "data_source": DataSource(data_dir=settings.data_dir, cache_dir=str(settings.cache_dir)),
        "reports": ReportStore(root=str(settings.reports_dir)),
    }
    if settings.environment == "production":
        return {
            **common,
            "lakehouse": ObjectStoreLakehouse(
                root=settings.lake_root,
                access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
                region=dg.EnvVar("AWS_REGION"),
            ),
            "tracking": ServerMlflowTracking(
                tracking_uri=settings.tracking_uri,
                registry_uri=settings.registry_uri,
                artifact_root=settings.artifact_root,
                locks_dir=str(settings.locks_dir),
                token=dg.EnvVar("MLFLOW_TRACKING_TOKEN"),
            ),
            "alerts": WebhookAlertSink(url=dg.EnvVar("MLOPS_ALERT_WEBHOOK_URL")),
        }
    return {
        **common,
        "lakehouse": LocalLakehouse(root=settings.lake_root),
        "tracking": LocalMlflowTracking(
            tracking_uri=settings.tracking_uri,
            registry_uri=settings.registry_uri,
            artifact_root=settings.artifact_root,
            locks_dir=str(settings.locks_dir),
        ),
        "alerts": FileAlertSink(path=str(settings.alerts_path)),
    }
