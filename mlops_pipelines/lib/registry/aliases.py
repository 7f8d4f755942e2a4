"""The model registry: one registered model per project, moved between roles by aliases.

Aliases: `challenger` (newest candidate), `champion` (serving), `previous-champion` (rollback
target). Stages are deprecated in MLflow 3 and never used. Every read-modify-write of the
aliases (promote, rollback, retire) runs under an exclusive file lock and re-reads the
aliases inside it, so two writers on one host cannot both act on the same stale view. The
lock is per host: a registry shared across hosts still gets the compare-and-set check,
which narrows the race to the lock-free instant between its re-read and its write.
Every alias move is logged to the project's audit trail (`audit`) inside that lock: the entry
is opened as pending with the planned moves and marked done only after they succeeded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.registry.audit import (
    AliasMove,
    AuditEntry,
    dagster_actor,
    decision_id,
    decision_reason,
    default_actor,
    now_utc,
    recorded,
    settle_pending,
)
from mlops_pipelines.lib.registry.decisions import alias_lock, attach_decision
from mlops_pipelines.lib.registry.lookup import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    LoadedModel,
    ModelIntegrityError,
    ModelLoadError,
    ModelVersionRef,
    PromotionConflict,
    PromotionResult,
    RegistryError,
    RollbackError,
    list_version_refs,
    read_aliases,
    read_version,
    ref_of,
    resolve_version,
    utc_now,
)
from mlops_pipelines.lib.registry.model_loading import load_model, verify_loadable
from mlops_pipelines.lib.registry.retention import retire_old_versions
from mlops_pipelines.lib.registry.rollback import rollback
from mlops_pipelines.lib.registry.session import TrackingConfig, TrackingUnavailable, open_client
from mlops_pipelines.lib.registry.tracking import ARTIFACT_SHA_TAG, LoggedModel

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "LoadedModel",
    "ModelIntegrityError",
    "ModelLoadError",
    "ModelVersionRef",
    "PromotionConflict",
    "PromotionResult",
    "RegistryError",
    "RollbackError",
    "TrackingUnavailable",
    "aliases",
    "get_alias",
    "get_version",
    "list_versions",
    "load_model",
    "promote",
    "promote_locked",
    "record_rejection",
    "register_challenger",
    "register_version",
    "retire_old_versions",
    "rollback",
    "verify_loadable",
]

log = logging.getLogger(__name__)

REGISTRATION_WAIT_SECONDS = 60


def aliases(cfg: TrackingConfig, project: str) -> dict[str, str]:
    """All aliases of the project's registered model (empty when nothing is registered)."""
    with open_client(cfg) as client:
        return read_aliases(client, project) or {}


def get_alias(cfg: TrackingConfig, project: str, alias: str) -> ModelVersionRef | None:
    """The version `alias` points at, or None when the alias (or the model) does not exist."""
    with open_client(cfg) as client:
        found = read_aliases(client, project) or {}
        return ref_of(read_version(client, project, found[alias])) if alias in found else None


def get_version(cfg: TrackingConfig, project: str, alias_or_version: str) -> ModelVersionRef:
    with open_client(cfg) as client:
        return ref_of(resolve_version(client, project, alias_or_version))


def list_versions(cfg: TrackingConfig, project: str) -> list[ModelVersionRef]:
    """Every version of the project, newest first."""
    with open_client(cfg) as client:
        return list_version_refs(client, project)


def _tagged_actor(tags: dict[str, str]) -> str:
    """The Dagster run a version's lineage tags name, else this process's user."""
    run_id = tags.get(names.ML_DAGSTER_RUN)
    return dagster_actor(run_id) if run_id else default_actor()


def register_challenger(
    cfg: TrackingConfig, project: str, logged: LoggedModel, tags: dict[str, str], *, actor: str | None = None
) -> ModelVersionRef:
    """A new READY version of `project` carrying the training sha256, aliased `challenger`.

    The sha256 tag is written in the same call that creates the version, and the alias is the
    last step. If any step fails the new version is deleted, so nothing (neither an alias nor
    "the latest version") can point at a half-registered model.
    """
    return register_version(cfg, project, logged, tags, alias=CHALLENGER, actor=actor)


def register_version(
    cfg: TrackingConfig,
    project: str,
    logged: LoggedModel,
    tags: dict[str, str],
    *,
    alias: str | None,
    actor: str | None = None,
) -> ModelVersionRef:
    """`register_challenger` with the alias to set (None: none, e.g. a go-live refit that the
    promotion aliases itself)."""
    from mlflow.exceptions import MlflowException

    with open_client(cfg) as client:
        try:
            client.create_registered_model(project, tags={names.ML_PROJECT: project})
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version_tags = {**tags, ARTIFACT_SHA_TAG: logged.artifact_sha256, names.ML_MODEL_ID: logged.model_id}
        created = client.create_model_version(
            project,
            source=logged.artifact_location,  # a models:/ source makes the SQL store use global MLflow state
            run_id=logged.run_id,
            tags=version_tags,
            await_creation_for=REGISTRATION_WAIT_SECONDS,
            model_id=logged.model_id,
        )
        version = str(created.version)
        try:
            current = client.get_model_version(project, version)
            if current.status != "READY":
                raise RegistryError(f"{project}: version {version} is {current.status}, not READY")
            if (current.tags or {}).get(ARTIFACT_SHA_TAG) != logged.artifact_sha256:
                raise RegistryError(f"{project}: version {version} lost its {ARTIFACT_SHA_TAG} tag")
            if alias is not None:
                before = (read_aliases(client, project) or {}).get(alias)
                entry = AuditEntry(
                    project,
                    "register",
                    (AliasMove(alias, before, version),),
                    actor or _tagged_actor(tags),
                    f"training run {logged.run_id}",
                    f"new version {version} from training run {logged.run_id}",
                    now_utc(),
                )
                with recorded(client, cfg, entry):
                    client.set_registered_model_alias(project, alias, version)
        except BaseException as err:
            try:
                client.delete_model_version(project, version)
                err.add_note(f"{project}: half-registered version {version} was deleted")
            except MlflowException as cleanup_err:
                err.add_note(f"{project}: deleting half-registered version {version} failed: {cleanup_err}")
            raise
        log.info("%s: version %s registered as %s (run %s)", project, version, alias, logged.run_id)
        return ref_of(current)


def promote(
    cfg: TrackingConfig,
    project: str,
    version: str,
    decision_json: str,
    lock_path: Path,
    *,
    expected_champion: str | None,
    settles: str | None = None,
    actor: str | None = None,
) -> PromotionResult:
    """Make `version` the champion if the champion is still `expected_champion` (compare-and-set).

    The old champion becomes `previous-champion`; a `challenger` alias on the promoted version
    (or on `settles`, the evaluated version a go-live refit stands for) is removed: it is no
    longer a candidate. The decision record is stored as a run artifact and a version tag on
    both versions before the aliases move.
    """
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        return promote_locked(
            client,
            cfg,
            project,
            str(version),
            decision_json,
            expected_champion=expected_champion,
            settles=settles,
            actor=actor,
        )


def promote_locked(
    client: MlflowClient,
    cfg: TrackingConfig,
    project: str,
    version: str,
    decision_json: str,
    *,
    expected_champion: str | None,
    settles: str | None = None,
    actor: str | None = None,
    action: str = "promote",
    reason: str | None = None,
) -> PromotionResult:
    """`promote` for a caller that holds the alias lock and a client (an approval re-checks first)."""
    current = read_aliases(client, project)
    if current is None:
        raise RegistryError(f"{project}: no registered model named '{project}'")
    champion = current.get(CHAMPION)
    if champion != expected_champion:
        raise PromotionConflict(
            f"{project}: champion is {champion or 'unset'}, expected {expected_champion or 'unset'}; "
            f"version {version} must be re-evaluated against the current champion"
        )
    if champion == version:
        raise RegistryError(f"{project}: version {version} is already the champion")
    target = ref_of(read_version(client, project, version))
    if target.retired:
        raise RegistryError(f"{project}: version {version} is retired and cannot be promoted")
    if not target.artifact_sha256:
        raise ModelIntegrityError(f"{project}: version {version} has no {ARTIFACT_SHA_TAG} tag")
    old = ref_of(read_version(client, project, champion)) if champion else None
    promoted_at = utc_now()
    artifact = attach_decision(client, target, "promotion", decision_json, promoted_at)
    drop_challenger = current.get(CHALLENGER) is not None and current.get(CHALLENGER) in (version, settles)
    moves = [AliasMove(CHAMPION, champion, version)]
    if old is not None:
        moves.insert(0, AliasMove(PREVIOUS_CHAMPION, current.get(PREVIOUS_CHAMPION), old.version))
    if drop_challenger:
        moves.append(AliasMove(CHALLENGER, current.get(CHALLENGER), None))
    settle_pending(client, cfg, project, current)
    why = reason or decision_reason(decision_json)
    entry = AuditEntry(
        project, action, tuple(moves), actor or default_actor(), decision_id(decision_json), why, now_utc()
    )
    with recorded(client, cfg, entry):
        # previous-champion moves first: a crash before the champion moves leaves both aliases on
        # the old champion, never a champion without a rollback target.
        if old is not None:
            attach_decision(client, old, "superseded", decision_json, promoted_at, artifact=artifact)
            client.set_model_version_tag(project, old.version, "superseded_by", version)
            client.set_model_version_tag(project, old.version, "superseded_at", promoted_at)
            client.set_registered_model_alias(project, PREVIOUS_CHAMPION, old.version)
        client.set_registered_model_alias(project, CHAMPION, version)
        if drop_challenger:
            client.delete_registered_model_alias(project, CHALLENGER)
        # Written last: its presence marks a promotion that completed.
        client.set_model_version_tag(project, version, "promoted_at", promoted_at)
    log.info("%s: version %s promoted (previous champion %s)", project, version, champion)
    return PromotionResult(
        project, ref_of(read_version(client, project, version)), old, artifact, promoted_at
    )


def record_rejection(cfg: TrackingConfig, project: str, version: str, decision_json: str) -> None:
    """Tag a challenger the gate rejected; it keeps its alias until a newer challenger arrives."""
    with open_client(cfg) as client:
        target = ref_of(read_version(client, project, str(version)))
        stamp = utc_now()
        attach_decision(client, target, "rejection", decision_json, stamp)
        client.set_model_version_tag(project, target.version, "rejected_at", stamp)
