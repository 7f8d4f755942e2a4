"""The resources Dagster steps use, and the one function that picks them per environment.

`environment_for(name=None)` (resources/environment.py) chooses the resources and executor for
`local` (the default: every path under MLOPS_HOME) or `production` (every location and secret
through EnvVar, read when used); the code location, the CLI and serving all take theirs from it.
"""

from __future__ import annotations

from typing import Any

from mlops_pipelines.resources.alerts import AlertSink
from mlops_pipelines.resources.data import DataSource
from mlops_pipelines.resources.environment import Environment, environment_for
from mlops_pipelines.resources.lakehouse import Lakehouse
from mlops_pipelines.resources.reports import ReportStore
from mlops_pipelines.resources.tracking import MlflowTracking

__all__ = [
    "AlertSink",
    "DataSource",
    "Environment",
    "Lakehouse",
    "MlflowTracking",
    "ReportStore",
    "environment_for",
    "resources_for",
]


def resources_for(environment: str | None = None) -> dict[str, Any]:
    """The resources dict of `environment_for(environment)` (kept for existing callers)."""
    return dict(environment_for(environment).resources)
