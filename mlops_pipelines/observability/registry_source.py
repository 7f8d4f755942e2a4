"""Reads each project's aliases from the MLflow registry (champion, challenger, previous-champion).

One registry call per project per read. The exporter's reads give up fast (no retries, a short
timeout): a scrape that waits out MLflow's retries would time out in Prometheus anyway, and the
next scrape asks again. A SQLite store that does not exist is reported, not created: creating
it would show an empty registry where the real one is simply somewhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mlops_pipelines.lib.registry.lookup import read_aliases
from mlops_pipelines.lib.registry.session import TrackingConfig, TrackingUnavailable, open_client, redact_uri
from mlops_pipelines.observability.metric_names import SOURCE_MLFLOW
from mlops_pipelines.observability.state import RegistryState

READ_TIMEOUT_SECONDS = 3


def exporter_config(config: TrackingConfig) -> TrackingConfig:
    """`config` with the exporter's fail-fast HTTP limits."""
    return replace(
        config, http_max_retries=0, http_timeout_seconds=READ_TIMEOUT_SECONDS, http_backoff_factor=0
    )


class RegistrySource:
    name = SOURCE_MLFLOW

    def __init__(self, projects: Sequence[str], config: TrackingConfig) -> None:
        self._projects = list(projects)
        self._config = exporter_config(config)

    def setting(self) -> str:
        uri = self._config.resolved_registry_uri
        return f"MLOPS_TRACKING_URI / MLOPS_REGISTRY_URI: registry {redact_uri(uri)}"

    def read(self) -> tuple[RegistryState, ...]:
        uri = self._config.resolved_registry_uri
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
            raise TrackingUnavailable(f"no MLflow store at {uri.removeprefix('sqlite:///')}")
        with open_client(self._config) as client:
            return tuple(RegistryState(p, read_aliases(client, p) or {}) for p in self._projects)
