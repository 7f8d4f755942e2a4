"""The model registry as the holder's source of versions (lib.registry under the hood)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry import LoadedModel
    from mlops_pipelines.serving.holder import Alias
    from mlops_pipelines.settings import Settings


class RegistrySource:
    """Reads aliases from and loads verified models out of the project's registered model."""

    def __init__(self, settings: Settings, project: str) -> None:
        from mlops_pipelines.lib.mlflow_session import TrackingConfig

        self.project = project
        self.config = TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)

    def version_of(self, alias: Alias) -> str | None:
        from mlops_pipelines.lib.registry import get_alias

        ref = get_alias(self.config, self.project, alias)
        return None if ref is None else ref.version

    def load(self, version: str) -> LoadedModel:
        # By version, never by alias: the alias may have moved since `version_of` read it.
        from mlops_pipelines.lib.registry import load_model

        return load_model(self.config, self.project, version)
