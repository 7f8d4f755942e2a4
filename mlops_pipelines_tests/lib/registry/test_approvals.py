"""Human approval on a real MLflow SQLite store: pending moves nothing, approve re-checks the
champion (compare-and-set), reject and expiry are recorded with who and why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.registry import audit
from mlops_pipelines.lib.registry.aliases import PromotionConflict, aliases, get_version, promote
from mlops_pipelines.lib.registry.approvals import (
    ApprovalError,
    decide_approval,
    expire_approvals,
    pending_approvals,
    request_approval,
)
from mlops_pipelines.lib.registry.tracking import TrackingConfig
from mlops_pipelines_tests.lib.registry.test_audit import DECISION, _project

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("approval-state"))
    patch.undo()


def _request(cfg: TrackingConfig, name: str, version: str, lock: Path, champion: str | None) -> dict:
    pending = request_approval(
        cfg,
        name,
        version,
        DECISION,
        lock,
        champion_before=champion,
        evaluated_version=version,
        expires_after=timedelta(hours=72),
        now=NOW,
        actor="dagster run gate-1",
    )
    return dict(json.loads(pending))


def test_pending_moves_nothing_and_approval_promotes_with_the_person_recorded(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    lock = tmp_path / "p.lock"
    _project(cfg, "appr", 2)
    promote(cfg, "appr", "1", DECISION, lock, expected_champion=None)
    pending = _request(cfg, "appr", "2", lock, "1")
    assert (
        pending["verdict"] == "pending" and pending["approval"]["expires_at"] == "2026-12-04T09:00:00+00:00"
    )
    assert aliases(cfg, "appr")["champion"] == "1", "a pending verdict moves no alias"
    assert [r.version for r in pending_approvals(cfg, "appr")] == ["2"]

    later = NOW + timedelta(hours=1)
    result = decide_approval(
        cfg, "appr", "2", lock, approve=True, by="bob", reason="checked the slices", now=later
    )
    assert result.status == "approved" and result.champion is not None and result.champion.version == "2"
    assert aliases(cfg, "appr")["champion"] == "2" and pending_approvals(cfg, "appr") == []
    record = json.loads(get_version(cfg, "appr", "2").tags["promotion_decision"])
    assert record["verdict"] == "promote" and record["approval"]["by"] == "bob"
    assert record["approval"]["reason"] == "checked the slices"
    entries = audit.read_entries(cfg, "appr")
    assert [e.action for e in entries][-2:] == ["approval-requested", "approve"]
    approved = entries[-1]
    assert approved.actor == "bob" and approved.reason == "approved by bob: checked the slices"
    assert approved.move_of("champion") == audit.AliasMove("champion", "1", "2")


def test_approval_refused_when_the_champion_moved_since_the_verdict(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    lock = tmp_path / "p.lock"
    _project(cfg, "moved", 3)
    promote(cfg, "moved", "1", DECISION, lock, expected_champion=None)
    _request(cfg, "moved", "3", lock, "1")
    promote(cfg, "moved", "2", DECISION, lock, expected_champion="1")  # someone else moved it
    done = len(audit.read_entries(cfg, "moved"))
    with pytest.raises(PromotionConflict, match="champion is 2, but version 3 was judged against 1"):
        decide_approval(cfg, "moved", "3", lock, approve=True, by="bob", reason="ok", now=NOW)
    assert aliases(cfg, "moved")["champion"] == "2" and len(audit.read_entries(cfg, "moved")) == done


def test_reject_and_unknown_requests_are_refused_or_recorded(cfg: TrackingConfig, tmp_path: Path) -> None:
    lock = tmp_path / "p.lock"
    _project(cfg, "rej", 2)
    with pytest.raises(ApprovalError, match="version 2 is not waiting for approval \\(never requested\\)"):
        decide_approval(cfg, "rej", "2", lock, approve=True, by="bob", reason="ok", now=NOW)
    _request(cfg, "rej", "2", lock, None)
    with pytest.raises(ApprovalError, match="needs a reason"):
        decide_approval(cfg, "rej", "2", lock, approve=False, by="carol", reason=" ", now=NOW)
    result = decide_approval(cfg, "rej", "2", lock, approve=False, by="carol", reason="fairness gap", now=NOW)
    assert result.status == "rejected" and result.champion is None and "champion" not in aliases(cfg, "rej")
    tags = get_version(cfg, "rej", "2").tags
    assert (
        tags[names.ML_APPROVAL] == "rejected"
        and json.loads(tags["approval_decision"])["approval"]["by"] == "carol"
    )
    last = audit.read_entries(cfg, "rej")[-1]
    assert (last.action, last.actor, last.reason, last.moves) == (
        "approval-rejected",
        "carol",
        "fairness gap",
        (),
    )
    with pytest.raises(ApprovalError, match="not waiting for approval \\(rejected\\)"):
        decide_approval(cfg, "rej", "2", lock, approve=True, by="bob", reason="ok", now=NOW)


def test_an_approval_past_its_expiry_is_rejected_as_expired(cfg: TrackingConfig, tmp_path: Path) -> None:
    lock = tmp_path / "p.lock"
    _project(cfg, "late", 2)
    _request(cfg, "late", "2", lock, None)
    assert expire_approvals(cfg, "late", lock, NOW + timedelta(hours=71)) == []
    with pytest.raises(ApprovalError, match="the approval of version 2 expired; it was rejected"):
        decide_approval(
            cfg, "late", "2", lock, approve=True, by="bob", reason="ok", now=NOW + timedelta(hours=73)
        )
    assert "champion" not in aliases(cfg, "late")
    record = json.loads(get_version(cfg, "late", "2").tags["approval_decision"])
    assert record["approval"]["status"] == "expired" and record["approval"]["reason"] == "approval expired"
    assert audit.read_entries(cfg, "late")[-1].action == "approval-expired"
