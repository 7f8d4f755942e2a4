"""Experiment tracking and the model registry (MLflow): SQLite + local files, or a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from mlops_pipelines.lib.tracking import TrackingConfig


class MlflowTracking(dg.ConfigurableResource):
    """Interface to MLflow. The embedded default is a SQLite store with a local artifact root."""

    tracking_uri: str
    registry_uri: str | None = None
    artifact_root: str
    # Registry read-modify-writes (alias moves) are serialised with a file lock under this dir.
    locks_dir: str
    # Bounded so an unreachable server fails in seconds, not after MLflow's minutes of retries.
    http_max_retries: int = 2
    http_timeout_seconds: int = 10

    def config(self) -> TrackingConfig:
        from mlops_pipelines.lib.tracking import TrackingConfig

        return TrackingConfig(
            tracking_uri=self.tracking_uri,
            registry_uri=self.registry_uri or self.tracking_uri,
            artifact_root=self.artifact_root,
        )


class LocalMlflowTracking(MlflowTracking):
    """SQLite tracking store and local artifacts under the state directory."""


class ServerMlflowTracking(MlflowTracking):
    """A tracking server; its token comes from the environment through EnvVar."""

    token: str | None = None
