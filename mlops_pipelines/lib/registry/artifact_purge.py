"""Freeing the model files of retired versions: the registry entry stays, the binary goes.

Retirement (`retention.retire_old_versions`) keeps every version's registry entry, run, metrics,
sha256 and lineage; on its own it frees nothing, so the artifact store grows by two fitted
models per promoted retrain (the evaluated challenger and its go-live refit) for as long as the
project runs. A retired version can no longer be loaded, served or restored by `rollback`, so
its files serve only audits of the bytes themselves; `reproduce` rebuilds the model from its
pinned lineage (the maintenance job keeps the Delta versions every registered model pins).

Purging deletes the files a version's download URI points to (local, `mlflow-artifacts:` through
the tracking server, or S3: whatever MLflow's artifact repository for it is) and tags the version
`artifacts_purged_at`. It runs under the alias lock and re-reads the aliases there, so a version
an alias points to is never purged, even if it was retired and then restored in between.
Idempotent: a tagged version is skipped, and a delete whose tag write failed is redone (deleting
files that are gone is a no-op for every repository).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipelines.lib.registry.decisions import alias_lock
from mlops_pipelines.lib.registry.lookup import (
    PURGED_TAG,
    list_version_refs,
    read_aliases,
    utc_now,
)
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

if TYPE_CHECKING:
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgedVersion:
    version: str
    uri: str
    bytes_freed: int


@dataclass(frozen=True)
class PurgeResult:
    project: str
    purged: tuple[PurgedVersion, ...]

    @property
    def bytes_freed(self) -> int:
        return sum(p.bytes_freed for p in self.purged)


def _stored_bytes(repo: ArtifactRepository, path: str | None = None) -> int:
    total = 0
    for info in repo.list_artifacts(path):
        total += _stored_bytes(repo, info.path) if info.is_dir else int(info.file_size or 0)
    return total


def purge_retired_models(cfg: TrackingConfig, project: str, lock_path: Path) -> PurgeResult:
    """Delete the model files of every retired version no alias points to; tag each one purged."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    purged: list[PurgedVersion] = []
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        current = read_aliases(client, project)
        if current is None:
            return PurgeResult(project, ())  # no registered model yet
        protected = set(current.values())
        for ref in list_version_refs(client, project):
            if not ref.retired or ref.version in protected or PURGED_TAG in ref.tags:
                continue
            uri = client.get_model_version_download_uri(project, ref.version)
            repo = get_artifact_repository(uri, cfg.tracking_uri, cfg.resolved_registry_uri)
            size = _stored_bytes(repo)
            repo.delete_artifacts()
            client.set_model_version_tag(project, ref.version, PURGED_TAG, utc_now())
            purged.append(PurgedVersion(ref.version, uri, size))
    if purged:
        log.info("%s: purged the model files of retired versions %s", project, [p.version for p in purged])
    return PurgeResult(project, tuple(purged))
