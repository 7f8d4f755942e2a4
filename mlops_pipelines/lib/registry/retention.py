"""Retiring old versions: the registry keeps the newest few, and never a version an alias protects.

Its own module (aliases.py re-exports it) so alias moves and their audit entries stay readable.
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
    PROTECTED_ALIASES,
    RETIRED_TAG,
    list_version_refs,
    read_aliases,
    utc_now,
)
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

log = logging.getLogger(__name__)


def retire_old_versions(
    cfg: TrackingConfig, project: str, keep: int, lock_path: Path, *, actor: str | None = None
) -> list[str]:
    """Retire versions older than the newest `keep`, except champion/previous-champion/challenger.

    A retired version loses its aliases and is tagged `retired=true` + `retired_at`; its run,
    artifacts and registry entry stay for lineage. Returns the newly retired versions (one
    audit entry for them all, none when nothing is retired).
    """
    if keep < 1:
        raise ValueError(f"{project}: keep must be >= 1, got {keep}")
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        current = read_aliases(client, project)
        if current is None:
            return []
        protected = {current[a] for a in PROTECTED_ALIASES if a in current}
        stamp = utc_now()
        retired = [
            ref.version
            for ref in list_version_refs(client, project)[keep:]
            if ref.version not in protected and not ref.retired
        ]
        if not retired:
            return []
        moves = tuple(AliasMove(a, v, None) for a, v in sorted(current.items()) if v in retired)
        settle_pending(client, cfg, project, current)
        why = f"retention: keep the newest {keep} versions"
        entry = AuditEntry(
            project, "retire", moves, actor or default_actor(), None, why, now_utc(), versions=tuple(retired)
        )
        with recorded(client, cfg, entry):
            for move in moves:
                client.delete_registered_model_alias(project, move.alias)
            for version in retired:
                client.set_model_version_tag(project, version, RETIRED_TAG, "true")
                client.set_model_version_tag(project, version, "retired_at", stamp)
        log.info("%s: retired versions %s", project, retired)
        return retired
