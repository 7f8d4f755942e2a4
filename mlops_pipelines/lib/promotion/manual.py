"""The champion moves a person asks for: rollback (one step or `to_version`), approve, reject.

The champion asset runs these with its config (the rollback and approval jobs, launched from the
CLI or the Dagster UI), so each move is a recorded run and a lineage event of the champion like
a promotion, under the same lock. Who asked (`requested_by`, else the OS user for the CLI) is
recorded next to the Dagster run id in the audit trail and, for approvals, the decision record.
A project that requires approval gets its gate's `promote` verdict turned into `pending` here
(`request_pending`), with an alert; stale requests expire on every champion materialization.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.promotion.champion import ChampionRef, ChampionSource
from mlops_pipelines.lib.promotion.decision import DecisionRecord
from mlops_pipelines.lib.promotion.refs import champion_ref_of, rollback_champion

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_pipelines.lib.ports import Alerts, ReportFiles
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import RunContext
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)


class ChampionRequestError(ValueError):
    """A manual champion action without what it needs (approve without a version, ...)."""


@dataclass(frozen=True)
class ChampionRequest:
    """A person's request to the champion asset, from the job's config."""

    to_version: str | None = None  # rollback: a former champion several steps back (None: one step)
    version: str | None = None  # approve / reject: the version waiting for approval
    requested_by: str | None = None  # the person (the CLI's --by or its OS user)
    reason: str | None = None


def actor_of(run_context: RunContext | None, requested_by: str | None = None) -> str | None:
    """How the audit trail names a move made in a Dagster run (None outside one: the OS user)."""
    from mlops_pipelines.lib.registry.audit import dagster_actor

    if run_context is None:
        return None if requested_by is None else f"user {requested_by}"
    return dagster_actor(run_context.run_id, requested_by)


def send_alert(
    alerts: Alerts | None, project: str, severity: str, title: str, details: dict[str, Any]
) -> None:
    if alerts is None:  # plain callers (benchmarks) without an alert sink: the log is all there is
        log.warning("%s: %s (no alert sink)", project, title)
        return
    alerts.send(project, severity, title, details)


def request_pending(
    spec: ProjectSpec,
    decision: DecisionRecord,
    live_version: str,
    champion_before: str | None,
    tracking: TrackingConfig,
    lock_path: Path,
    *,
    alerts: Alerts | None,
    actor: str | None,
) -> DecisionRecord:
    """The `promote` verdict held for a person: the pending record, the version tagged, an alert."""
    from mlops_pipelines.lib.registry.approvals import request_approval

    pending = request_approval(
        tracking,
        spec.name,
        live_version,
        decision.to_json(),
        lock_path,
        champion_before=champion_before,
        evaluated_version=decision.challenger_version,
        expires_after=spec.promotion.approval.expires_after,
        now=datetime.now(UTC),
        actor=actor,
    )
    record = DecisionRecord.model_validate_json(pending)
    assert record.approval is not None
    details = {
        "version": live_version,
        "champion": champion_before,
        "expires_at": record.approval.expires_at.isoformat(),
        "approve": f"mlops-pipelines approve --project {spec.name} --version {live_version} --reason '...'",
    }
    send_alert(alerts, spec.name, "warning", f"promotion of version {live_version} awaits approval", details)
    return record


def expire_stale(
    spec: ProjectSpec, tracking: TrackingConfig, lock_path: Path, alerts: Alerts | None
) -> list[str]:
    """Reject the approvals left pending past their expiry, each alerted; returns their versions."""
    from mlops_pipelines.lib.registry.approvals import expire_approvals

    expired = expire_approvals(tracking, spec.name, lock_path, datetime.now(UTC))
    for version in expired:
        send_alert(
            alerts, spec.name, "warning", f"approval of version {version} expired", {"version": version}
        )
    return expired


def manual_champion(
    action: str,
    spec: ProjectSpec,
    request: ChampionRequest,
    tracking: TrackingConfig,
    lock_path: Path,
    reports: ReportFiles,
    *,
    run_context: RunContext | None = None,
) -> tuple[str | None, ChampionRef]:
    """Apply `action` (rollback, approve, reject); returns the champion before and the one after."""
    from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias
    from mlops_pipelines.lib.registry.approvals import decide_approval

    actor = actor_of(run_context, request.requested_by)
    if action == "rollback":
        return rollback_champion(
            spec.name, tracking, lock_path, to_version=request.to_version, actor=actor, reason=request.reason
        )
    if action not in ("approve", "reject"):
        raise ChampionRequestError(f"{spec.name}: unknown champion action {action!r}")
    if not request.version:
        raise ChampionRequestError(f"{spec.name}: {action} needs the version waiting for approval")
    before = get_alias(tracking, spec.name, CHAMPION)
    result = decide_approval(
        tracking,
        spec.name,
        request.version,
        lock_path,
        approve=action == "approve",
        by=request.requested_by or "unknown",
        reason=request.reason or "",
        now=datetime.now(UTC),
        actor=None if run_context is None else actor_of(run_context),
    )
    record = reports.path(spec.name, "decisions", f"approval-v{result.version}.json")
    record.write_text(result.decision_json, encoding="utf-8")
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    if result.champion is None:
        return None if before is None else before.version, ChampionRef.absent(spec.name)
    source: ChampionSource = "promotion" if result.status == "approved" else "kept"
    return None if before is None else before.version, champion_ref_of(
        spec.name, result.champion, source, stamp
    )
