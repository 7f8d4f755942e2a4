"""Resources for an environment, chosen in this one place so asset code never branches on it.

`local` (the default) needs no server: every path resolves under MLOPS_HOME when a step runs.
`production` reads locations and secrets through EnvVar, also only when a step runs.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines.resources.alerts import AlertSink, FileAlertSink, WebhookAlertSink
from mlops_pipelines.resources.data import DataSource
from mlops_pipelines.resources.io import HandleIOManager
from mlops_pipelines.resources.lakehouse import Lakehouse, LocalLakehouse, ObjectStoreLakehouse
from mlops_pipelines.resources.reports import ReportStore
from mlops_pipelines.resources.tracking import LocalMlflowTracking, MlflowTracking, ServerMlflowTracking
from mlops_pipelines.settings import Environment

__all__ = [
    "AlertSink",
    "DataSource",
    "Lakehouse",
    "MlflowTracking",
    "ReportStore",
    "resources_for",
]


def resources_for(environment: Environment) -> dict[str, Any]:
    if environment == "production":
        return {
            "io_manager": HandleIOManager(base_dir=dg.EnvVar("MLOPS_HANDLES_DIR")),
            "data_source": DataSource(data_dir=dg.EnvVar("MLOPS_DATA_DIR")),
            "reports": ReportStore(root=dg.EnvVar("MLOPS_REPORTS_ROOT")),
            "lakehouse": ObjectStoreLakehouse(
                root=dg.EnvVar("MLOPS_LAKE_ROOT"),
                access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
                region=dg.EnvVar("AWS_REGION"),
            ),
            "tracking": ServerMlflowTracking(
                tracking_uri=dg.EnvVar("MLOPS_TRACKING_URI"),
                artifact_root=dg.EnvVar("MLOPS_ARTIFACT_ROOT"),
                locks_dir=dg.EnvVar("MLOPS_LOCKS_DIR"),
                token=dg.EnvVar("MLFLOW_TRACKING_TOKEN"),
            ),
            "alerts": WebhookAlertSink(url=dg.EnvVar("MLOPS_ALERT_WEBHOOK_URL")),
        }
    return {
        "io_manager": HandleIOManager(),
        "data_source": DataSource(),
        "reports": ReportStore(),
        "lakehouse": LocalLakehouse(),
        "tracking": LocalMlflowTracking(),
        "alerts": FileAlertSink(),
    }
