"""Registry versions found by what they carry, and the tags and decisions written on them.

Retried steps must not register twice: a retried training finds the version an identical
training registered (`find_versions` on its training key), a retried go-live refit finds the
refit of the evaluated version (`refit_of` tag). Versions per project number in the hundreds
at most (old ones are retired, never deleted), so they are listed and filtered here rather
than through the store's tag-search dialect, which differs between MLflow backends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines.lib.registry.decisions import attach_decision
from mlops_pipelines.lib.registry.lookup import (
    CHALLENGER,
    ModelVersionRef,
    list_version_refs,
    read_aliases,
    read_version,
    ref_of,
    utc_now,
)
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import run_url

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig

log = logging.getLogger(__name__)


def find_versions(cfg: TrackingConfig, project: str, tag: str, value: str) -> list[ModelVersionRef]:
    """Versions of `project` whose tag `tag` equals `value`, newest first, retired ones left out
    (empty when nothing is registered)."""
    with open_client(cfg) as client:
        if read_aliases(client, project) is None:
            return []
        refs = list_version_refs(client, project)
    return [r for r in refs if r.tags.get(tag) == value and not r.retired]


def set_version_tags(
    cfg: TrackingConfig, project: str, version: str, tags: dict[str, str]
) -> ModelVersionRef:
    """Write `tags` on a version (existing keys are overwritten); returns the version as it is now."""
    with open_client(cfg) as client:
        for key, value in tags.items():
            client.set_model_version_tag(project, str(version), key, value)
        return ref_of(read_version(client, project, str(version)))


def record_decision(cfg: TrackingConfig, project: str, version: str, kind: str, decision_json: str) -> None:
    """Tag a version with the decision `kind` (stored on its run too) and when it was made."""
    with open_client(cfg) as client:
        target = ref_of(read_version(client, project, str(version)))
        stamp = utc_now()
        attach_decision(client, target, kind, decision_json, stamp)
        client.set_model_version_tag(project, target.version, f"{kind}_at", stamp)


def make_challenger(cfg: TrackingConfig, project: str, version: str, *, actor: str | None = None) -> None:
    """Point `challenger` at an existing version (a retried training that reuses its version)."""
    from mlops_pipelines.lib.registry.audit import AliasMove, AuditEntry, default_actor, now_utc, recorded

    with open_client(cfg) as client:
        read_version(client, project, str(version))  # a wrong version fails before the alias moves
        before = (read_aliases(client, project) or {}).get(CHALLENGER)
        why = f"version {version} reused by an identical training"
        move = AliasMove(CHALLENGER, before, str(version))
        entry = AuditEntry(project, "challenger", (move,), actor or default_actor(), None, why, now_utc())
        with recorded(client, cfg, entry):
            client.set_registered_model_alias(project, CHALLENGER, str(version))
    log.info("%s: version %s is the challenger again (reused by an identical training)", project, version)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    metrics: dict[str, float]
    params: dict[str, str]
    run_url: str | None


def run_summary(cfg: TrackingConfig, run_id: str) -> RunSummary:
    """The metrics and parameters a run logged (a reused version's training run)."""
    with open_client(cfg) as client:
        run = client.get_run(run_id)
    return RunSummary(
        run_id=run_id,
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        params=dict(run.data.params),
        run_url=run_url(cfg, run.info.experiment_id, run_id),
    )
