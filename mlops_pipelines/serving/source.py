"""The model registry as the holder's source of versions (lib.registry.aliases under the hood)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.aliases import LoadedModel
    from mlops_pipelines.settings import Settings


class RegistrySource:
    """Reads aliases from and loads verified models out of the project's registered model."""

    def __init__(self, settings: Settings, project: str) -> None:
        self.project = project
        # From an Environment, this is the tracking resource's own config (what the steps use).
        self.config = settings.tracking_config()

    def aliases(self) -> dict[str, str]:
        # One read of the registered model per poll: it carries every alias. The poll runs
        # under the GIL beside the request path, so it is kept to one query.
        from mlops_pipelines.lib.registry.aliases import aliases

        return aliases(self.config, self.project)

    def load(self, version: str) -> LoadedModel:
        # By version, never by alias: the alias may have moved since `version_of` read it.
        from mlops_pipelines.lib.registry.aliases import load_model

        return load_model(self.config, self.project, version)
