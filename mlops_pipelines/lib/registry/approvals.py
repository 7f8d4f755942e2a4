"""Human approval of a promotion: a `pending` verdict waits on its version until a person decides.

The gate's verdict for a project with `promotion.approval.required` is applied up to the last
step: the serving version is refit and tagged, then marked `mlops.approval=pending` with the
champion it was judged against and an expiry time, and its pending decision record is attached;
the aliases do not move. `decide_approval` applies a person's verdict under the alias lock:
approve re-checks that the champion is still the one judged against (compare-and-set) and
promotes with the person and reason in the decision record and the audit entry; reject records
them and moves nothing. An approval past its expiry is rejected with the reason "approval
expired" (`expire_approvals`, run by every materialization of the champion asset, and by
`decide_approval` before it looks). Every request, verdict and expiry is an audit entry.
The decision record is handled as JSON here (this layer does not know the gate's model); the
`approval` object it gains is `lib.promotion.decision.ApprovalRecord`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.registry.audit import AuditEntry, decision_id, default_actor, now_utc, recorded
from mlops_pipelines.lib.registry.decisions import alias_lock, attach_decision
from mlops_pipelines.lib.registry.lookup import (
    CHAMPION,
    ModelVersionRef,
    PromotionConflict,
    RegistryError,
    list_version_refs,
    read_aliases,
    read_version,
    ref_of,
)
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
PENDING_KIND = "pending"  # the decision kind: tags pending_decision and pending_decision_artifact


class ApprovalError(RegistryError):
    """An approval that cannot be given: nothing pending for that version, or it expired."""


@dataclass(frozen=True)
class ApprovalResult:
    project: str
    version: str
    status: str  # approved | rejected
    champion: ModelVersionRef | None  # the champion afterwards
    decision_json: str


def _at(stamp: datetime) -> str:
    return stamp.isoformat(timespec="seconds")


def _pending_decision(client: MlflowClient, ref: ModelVersionRef) -> dict[str, Any]:
    """The full pending decision: its tag, or the run artifact when the tag is a summary."""
    document = json.loads(ref.tags.get(f"{PENDING_KIND}_decision", "{}"))
    artifact = ref.tags.get(f"{PENDING_KIND}_decision_artifact")
    if document.get("truncated") and artifact:
        import tempfile

        run_id, path = artifact.removeprefix("runs:/").split("/", 1)
        with tempfile.TemporaryDirectory() as tmp:
            document = json.loads(Path(client.download_artifacts(run_id, path, tmp)).read_text())
    return dict(document)


def request_approval(
    cfg: TrackingConfig,
    project: str,
    version: str,
    decision_json: str,
    lock_path: Path,
    *,
    champion_before: str | None,
    evaluated_version: str,
    expires_after: timedelta,
    now: datetime,
    actor: str | None = None,
) -> str:
    """Mark `version` pending approval; returns the pending decision record (verdict "pending").

    An older pending approval of the project is rejected (superseded): one candidate waits at a time.
    """
    document = json.loads(decision_json)
    document["verdict"] = PENDING
    expires = now + expires_after
    document["approval"] = {
        "status": PENDING,
        "requested_at": _at(now),
        "expires_at": _at(expires),
        "champion_before": champion_before,
    }
    pending_json = json.dumps(document, indent=2, default=str)
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        for older in _pending(client, project):
            if older.version != str(version):
                _close(client, cfg, older, REJECTED, f"superseded by version {version}", actor, now)
        target = ref_of(read_version(client, project, str(version)))
        why = f"promotion of version {version} awaits approval until {_at(expires)}"
        entry = AuditEntry(
            project,
            "approval-requested",
            (),
            actor or default_actor(),
            decision_id(pending_json),
            why,
            now_utc(),
            versions=(str(version),),
        )
        with recorded(client, cfg, entry):
            attach_decision(client, target, PENDING_KIND, pending_json, _at(now))
            tags = {
                names.ML_APPROVAL_CHAMPION: champion_before or "",
                names.ML_APPROVAL_EVALUATED: evaluated_version,
                names.ML_APPROVAL_EXPIRES: _at(expires),
                names.ML_APPROVAL: PENDING,  # last: its presence marks a complete request
            }
            for key, value in tags.items():
                client.set_model_version_tag(project, str(version), key, value)
    log.warning("%s: version %s awaits approval until %s", project, version, _at(expires))
    return pending_json


def _pending(client: MlflowClient, project: str) -> list[ModelVersionRef]:
    return [r for r in list_version_refs(client, project) if r.tags.get(names.ML_APPROVAL) == PENDING]


def _close(
    client: MlflowClient,
    cfg: TrackingConfig,
    ref: ModelVersionRef,
    status: str,
    reason: str,
    by: str | None,
    now: datetime,
) -> str:
    """Record a verdict that moves no alias (rejected, expired): decision, tag, audit entry."""
    document = _pending_decision(client, ref)
    document["verdict"] = "reject"
    document["reasons"] = [*document.get("reasons", []), f"{status}: {reason}"]
    document["approval"] = {
        **document.get("approval", {}),
        "status": status,
        "by": by,
        "reason": reason,
        "decided_at": _at(now),
    }
    closed = json.dumps(document, indent=2, default=str)
    action = f"approval-{status}"
    entry = AuditEntry(
        ref.name,
        action,
        (),
        by or default_actor(),
        decision_id(closed),
        reason,
        now_utc(),
        versions=(ref.version,),
    )
    with recorded(client, cfg, entry):
        attach_decision(client, ref, "approval", closed, _at(now))
        client.set_model_version_tag(ref.name, ref.version, names.ML_APPROVAL, status)
    log.warning("%s: approval of version %s %s: %s", ref.name, ref.version, status, reason)
    return closed


def _expire(client: MlflowClient, cfg: TrackingConfig, project: str, now: datetime) -> list[str]:
    expired = []
    for ref in _pending(client, project):
        if datetime.fromisoformat(ref.tags[names.ML_APPROVAL_EXPIRES]) <= now:
            _close(client, cfg, ref, EXPIRED, "approval expired", "system (expiry)", now)
            expired.append(ref.version)
    return expired


def expire_approvals(cfg: TrackingConfig, project: str, lock_path: Path, now: datetime) -> list[str]:
    """Reject every approval of `project` left pending past its expiry; returns their versions."""
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        return _expire(client, cfg, project, now)


def pending_approvals(cfg: TrackingConfig, project: str) -> list[ModelVersionRef]:
    with open_client(cfg) as client:
        return _pending(client, project) if read_aliases(client, project) is not None else []


def decide_approval(
    cfg: TrackingConfig,
    project: str,
    version: str,
    lock_path: Path,
    *,
    approve: bool,
    by: str,
    reason: str,
    now: datetime,
    actor: str | None = None,
) -> ApprovalResult:
    """A person's verdict on a pending promotion, under the lock; `by` and `reason` are recorded.

    Raises ApprovalError (nothing pending for `version`, or it expired: then recorded as
    expired) and PromotionConflict (the champion moved since the verdict: nothing moves).
    """
    from mlops_pipelines.lib.registry.aliases import promote_locked

    version = str(version)
    if not reason.strip():
        raise ApprovalError(f"{project}: an approval or rejection needs a reason")
    with alias_lock(lock_path, lock_url=cfg.lock_url, name=project), open_client(cfg) as client:
        if read_aliases(client, project) is None:
            raise ApprovalError(f"{project}: no registered model named '{project}'")
        expired = _expire(client, cfg, project, now)
        ref = ref_of(read_version(client, project, version))
        status = ref.tags.get(names.ML_APPROVAL)
        if version in expired or status == EXPIRED:
            raise ApprovalError(f"{project}: the approval of version {version} expired; it was rejected")
        if status != PENDING:
            raise ApprovalError(
                f"{project}: version {version} is not waiting for approval ({status or 'never requested'})"
            )
        who = f"{by} via {actor}" if actor else by
        if not approve:
            closed = _close(client, cfg, ref, REJECTED, reason, who, now)
            current = read_aliases(client, project) or {}
            champion = (
                ref_of(read_version(client, project, current[CHAMPION])) if CHAMPION in current else None
            )
            return ApprovalResult(project, version, REJECTED, champion, closed)
        expected = ref.tags.get(names.ML_APPROVAL_CHAMPION) or None
        champion_now = (read_aliases(client, project) or {}).get(CHAMPION)
        if champion_now != expected:
            raise PromotionConflict(
                f"{project}: champion is {champion_now or 'unset'}, but version {version} was judged against "
                f"{expected or 'no champion'}: approval refused, retrain to judge it against the current champion"
            )
        document = _pending_decision(client, ref)
        document["verdict"] = "promote"
        document["reasons"] = [*document.get("reasons", []), f"approved by {by}: {reason}"]
        document["approval"] = {
            **document.get("approval", {}),
            "status": APPROVED,
            "by": by,
            "reason": reason,
        }
        document["approval"]["decided_at"] = _at(now)
        approved = json.dumps(document, indent=2, default=str)
        result = promote_locked(
            client,
            cfg,
            project,
            version,
            approved,
            expected_champion=expected,
            settles=ref.tags.get(names.ML_APPROVAL_EVALUATED),
            actor=who,
            action="approve",
            reason=f"approved by {by}: {reason}",
        )
        client.set_model_version_tag(project, version, names.ML_APPROVAL, APPROVED)
        return ApprovalResult(project, version, APPROVED, result.champion, approved)
