"""Reading the registry: role aliases, version references, and the errors of registry work.

Client-level helpers (they take an open `MlflowClient`) shared by the registry operations and
the verified model loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.registry.model_logging import ARTIFACT_SHA_TAG

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
PROTECTED_ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)
RETIRED_TAG = "retired"
# When maintenance deleted a retired version's model files (`artifact_purge`).
PURGED_TAG = "artifacts_purged_at"


class RegistryError(RuntimeError):
    """A registry operation that cannot proceed; the message names project and version."""


class PromotionConflict(RegistryError):  # noqa: N818 (name is the shared contract)
    """The champion moved since the caller looked: re-evaluate against the new champion."""


class RollbackError(RegistryError):
    """There is no previous champion to roll back to."""


class ModelIntegrityError(RegistryError):
    """A model artifact that is missing or differs from the sha256 recorded at training."""


class ModelPurgedError(RegistryError):
    """A retired version whose model files retention deleted: its record stays, it cannot load."""


class ModelLoadError(RegistryError):
    """A verified artifact that pyfunc cannot load or that fails to predict its own example."""


class ProvenanceError(ModelIntegrityError):
    """A model version no recorded pipeline run produced, or that differs from that run's record."""


class ProvenanceUnavailable(ProvenanceError):  # noqa: N818 (pairs with TrackingUnavailable)
    """The run history a required provenance check reads is not configured or not readable."""


@dataclass(frozen=True)
class ModelVersionRef:
    name: str
    version: str
    run_id: str | None
    artifact_sha256: str | None
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def retired(self) -> bool:
        return self.tags.get(RETIRED_TAG) == "true"


@dataclass(frozen=True)
class PromotionResult:
    name: str
    champion: ModelVersionRef
    previous_champion: ModelVersionRef | None
    decision_artifact: str | None
    promoted_at: str


@dataclass(frozen=True)
class LoadedModel:
    model: Any = field(repr=False)  # mlflow.pyfunc.PyFuncModel
    name: str
    version: str
    run_id: str | None
    artifact_sha256: str
    input_example: Any = field(default=None, repr=False)  # the feature frame logged with the model


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ref_of(version: ModelVersion) -> ModelVersionRef:
    tags = dict(version.tags or {})
    return ModelVersionRef(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id or None,
        artifact_sha256=tags.get(ARTIFACT_SHA_TAG),
        tags=tags,
    )


def read_aliases(client: MlflowClient, project: str) -> dict[str, str] | None:
    """alias -> version, or None when the project has no registered model."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(project)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    # search_model_versions leaves version aliases empty; the registered model has them all.
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def read_version(client: MlflowClient, project: str, version: str) -> ModelVersion:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(project, str(version))
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"{project}: model version {version} does not exist") from err
        raise


def resolve_version(client: MlflowClient, project: str, alias_or_version: str) -> ModelVersion:
    if str(alias_or_version).isdigit():
        return read_version(client, project, str(alias_or_version))
    aliases = read_aliases(client, project)
    if aliases is None:
        raise RegistryError(f"{project}: no registered model named '{project}'")
    if alias_or_version not in aliases:
        raise RegistryError(f"{project}: alias '{alias_or_version}' is not set (aliases: {sorted(aliases)})")
    return read_version(client, project, aliases[alias_or_version])


def list_version_refs(client: MlflowClient, project: str) -> list[ModelVersionRef]:
    refs: list[ModelVersionRef] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(f"name = '{project}'", page_token=token)
        refs.extend(ref_of(v) for v in page)
        token = page.token
        if not token:
            break
    return sorted(refs, key=lambda r: int(r.version), reverse=True)
