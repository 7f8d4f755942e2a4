"""Rollback: the champion moves back to a version that served before, never forward.

One step (no target): champion <- previous-champion. Several steps (`to_version`): champion <-
that version, which must have served as champion before (it carries `promoted_at` or
`restored_at`), must not be retired, and must still pass the integrity check and load (its
artifact matches the sha256 recorded at training and predicts its stored example): a broken
version is refused before the lock is taken. Either way the previous-champion alias is then
removed: the rolled-back version was rolled back for a reason, so a second rollback without a
new promotion fails instead of flapping. Both run under the promotion lock with the same
compare-and-set on the champion as a promotion, and log one audit entry.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlops_pipelines.lib.registry.audit import (
    AliasMove,
    AuditEntry,
    default_actor,
    now_utc,
    recorded,
    settle_pending,
)
from mlops_pipelines.lib.registry.decisions import alias_lock
from mlops_pipelines.lib.registry.lookup import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    ModelVersionRef,
    PromotionConflict,
    RegistryError,
    RollbackError,
    read_aliases,
    read_version,
    ref_of,
    utc_now,
)
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

log = logging.getLogger(__name__)

SERVED_TAGS = ("promoted_at", "restored_at")  # a version with either has served as champion


def _check_target(ref: ModelVersionRef, champion: str | None) -> None:
    project, version = ref.name, ref.version
    if ref.retired:
        raise RollbackError(f"{project}: version {version} is retired and cannot be restored")
    if version == champion:
        raise RollbackError(f"{project}: version {version} is already the champion")
    if not any(tag in ref.tags for tag in SERVED_TAGS):
        raise RollbackError(
            f"{project}: version {version} never served as champion; a rollback only restores a former champion"
        )


def _verify_target(cfg: TrackingConfig, project: str, version: str) -> None:
    """The target exists, served before, and still loads (checked before the lock: it is slow)."""
    from mlops_pipelines.lib.registry.model_loading import verify_loadable

    with open_client(cfg) as client:
        if read_aliases(client, project) is None:
            raise RollbackError(f"{project}: no registered model named '{project}'")
        try:
            ref = ref_of(read_version(client, project, version))
        except RegistryError as err:
            raise RollbackError(
                f"{project}: cannot roll back to version {version}: it does not exist"
            ) from err
    _check_target(ref, None)
    try:
        verify_loadable(cfg, project, version)
    except RegistryError as err:
        raise RollbackError(f"{project}: cannot roll back to version {version}: it is broken: {err}") from err


def rollback(
    cfg: TrackingConfig,
    project: str,
    lock_path: Path,
    *,
    expected_champion: str | None = None,
    to_version: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> ModelVersionRef:
    """champion <- previous-champion, or <- `to_version` (several steps back); returns the restored
    version. Raises RollbackError (nothing to restore, or a target that cannot serve) and
    PromotionConflict (the champion is not `expected_champion`)."""
    target_version = None if to_version is None else str(to_version)
    if target_version is not None:
        _verify_target(cfg, project, target_version)
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        current = read_aliases(client, project)
        if current is None:
            raise RollbackError(f"{project}: no registered model named '{project}'")
        champion = current.get(CHAMPION)
        previous = current.get(PREVIOUS_CHAMPION)
        if expected_champion is not None and champion != expected_champion:
            raise PromotionConflict(
                f"{project}: champion is {champion or 'unset'}, expected {expected_champion}"
            )
        if target_version is None:
            if previous is None:
                raise RollbackError(f"{project}: no previous champion to roll back to")
            target_version = previous
        else:  # re-read under the lock: it may have been retired since the check above
            _check_target(ref_of(read_version(client, project, target_version)), champion)
        moves = [AliasMove(CHAMPION, champion, target_version)]
        if previous is not None:
            moves.append(AliasMove(PREVIOUS_CHAMPION, previous, None))
        settle_pending(client, cfg, project, current)
        steps = "one step" if to_version is None else f"to version {target_version}"
        why = reason or f"rollback {steps} from version {champion or 'unset'}"
        entry = AuditEntry(project, "rollback", tuple(moves), actor or default_actor(), None, why, now_utc())
        stamp = utc_now()
        with recorded(client, cfg, entry):
            client.set_registered_model_alias(project, CHAMPION, target_version)
            if previous is not None:
                client.delete_registered_model_alias(project, PREVIOUS_CHAMPION)
            client.set_model_version_tag(project, target_version, "restored_at", stamp)
            if champion is not None:
                client.set_model_version_tag(project, champion, "rolled_back_at", stamp)
                client.set_model_version_tag(project, champion, "rolled_back_to", target_version)
        log.warning("%s: rolled back champion %s -> %s", project, champion, target_version)
        return ref_of(read_version(client, project, target_version))
