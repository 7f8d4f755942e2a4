"""Experiment tracking and the model registry (MLflow): SQLite + local files, or a server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.tracking import TrackingConfig


class MlflowTracking(dg.ConfigurableResource):
    """Interface to MLflow. The embedded default is a SQLite store with a local artifact root."""

    # Empty fields mean the embedded default under MLOPS_HOME, resolved when a step runs.
    tracking_uri: str = ""
    registry_uri: str = ""
    artifact_root: str = ""
    # Registry read-modify-writes (alias moves) are serialised with a file lock under this dir.
    locks_dir: str = ""
    # ...and across hosts with an advisory lock in this PostgreSQL database; empty: MLOPS_LOCK_URL,
    # read when a step runs (unset there too: the file lock alone, enough on one host). The
    # production environment requires it (resources/environment.py).
    lock_url: str = ""
    # Bounded so an unreachable server fails in seconds, not after MLflow's minutes of retries.
    http_max_retries: int = 2
    http_timeout_seconds: int = 10
    # Whether a model loads only when a recorded Dagster run produced it (run_records.py):
    # "required" refuses every load without a Dagster instance to ask; "when_available" asks the
    # run's instance, else DAGSTER_HOME's, else checks the sha256 tag alone.
    provenance: str = "when_available"
    _instance: dg.DagsterInstance | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Inside a run, the instance it is recorded in is the ledger model loads are checked against.
        # Outside one (serving and the CLI resolve EnvVars through `process_config_and_initialize`)
        # Dagster hands an empty ephemeral instance: no version is recorded there, so the ledger
        # must be DAGSTER_HOME's instead (found when serving against the stack refused every model).
        self._instance = context.instance if context.dagster_run is not None else None

    def credentials(self) -> tuple[str | None, str | None]:
        """(username, password) for a server with basic auth; none for the embedded store."""
        return None, None

    def config(self) -> TrackingConfig:
        from mlops_pipelines.lib.registry.tracking import TrackingConfig
        from mlops_pipelines.run_records import pipeline_ledger
        from mlops_pipelines.settings import load_settings

        settings = load_settings()
        tracking = self.tracking_uri or settings.tracking_uri
        return TrackingConfig(
            tracking_uri=tracking,
            registry_uri=self.registry_uri or (settings.registry_uri if not self.tracking_uri else tracking),
            artifact_root=self.artifact_root or settings.artifact_root,
            http_max_retries=self.http_max_retries,
            http_timeout_seconds=self.http_timeout_seconds,
            username=self.credentials()[0],
            password=self.credentials()[1],
            ledger=pipeline_ledger(self.provenance, self._instance),
            lock_url=self.lock_url or settings.lock_url,
        )

    def lock_path(self, project: str) -> Path:
        from mlops_pipelines.settings import load_settings

        directory = Path(self.locks_dir or load_settings().locks_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{project}.promotion.lock"


class LocalMlflowTracking(MlflowTracking):
    """SQLite tracking store and local artifacts under the state directory."""


class ServerMlflowTracking(MlflowTracking):
    """A tracking server with MLflow's basic auth; the credentials come from the environment
    through EnvVar (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD), read when a step starts."""

    username: str | None = None
    password: str | None = None

    def credentials(self) -> tuple[str | None, str | None]:
        return self.username, self.password
