"""The audit trail and human approval in real Dagster runs and from the command line: rollback
--to through the rollback job, history, the deployment asset's timeline, and a promotion that
waits for a person (alerted, approved from the CLI through the approval job, or expired)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import cli, names
from mlops_pipelines.assets.deployment import build_deployment_asset
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry import audit
from mlops_pipelines.lib.registry.aliases import aliases
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines.spec_approval import ApprovalSpec
from mlops_pipelines_tests.assets.model_runs import extend_bike, later, meta, prepare_bike, retrain, weak

PROJECT = "bike_sharing"


@pytest.fixture
def bike(specs: dict[str, ProjectSpec], instance: dg.DagsterInstance) -> ProjectSpec:
    return prepare_bike(specs, instance)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _approval(spec: ProjectSpec, expires_after: timedelta) -> ProjectSpec:
    approval = ApprovalSpec(required=True, expires_after=expires_after)
    relaxed = weak(spec).model_copy(update={"kpis": []})  # the weak model may become the first champion
    return relaxed.model_copy(
        update={"promotion": relaxed.promotion.model_copy(update={"approval": approval})}
    )


def test_rollback_to_a_version_history_and_the_deployment_timeline(
    bike: ProjectSpec, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    relaxed = weak(bike).model_copy(update={"kpis": []})
    assert meta(retrain(relaxed, instance), names.CHAMPION)["verdict"] == "promote"  # v2, refit of v1
    extend_bike(bike, instance)
    assert meta(retrain(later(bike), instance), names.CHAMPION)["verdict"] == "promote"  # v4, refit of v3
    cfg = LocalMlflowTracking().config()
    before = aliases(cfg, PROJECT)

    code, _, err = _cli(capsys, "rollback", "--project", PROJECT, "--to", "99")
    assert code == 1 and "bike_sharing: cannot roll back to version 99: it does not exist" in err
    code, _, err = _cli(capsys, "rollback", "--project", PROJECT, "--to", "1")
    assert code == 1 and "version 1 never served as champion" in err and "Traceback" not in err
    assert aliases(cfg, PROJECT) == before, "a refused rollback moves nothing"

    code, out, _ = _cli(
        capsys, "rollback", "--project", PROJECT, "--to", "2", "--by", "alice", "--reason", "5xx"
    )
    assert code == 0 and out.strip() == "bike_sharing: champion is now version 2"
    last = audit.read_entries(cfg, PROJECT)[-1]
    assert last.action == "rollback" and last.reason == "5xx"
    assert last.actor.startswith("dagster run ") and last.actor.endswith("(requested by alice)")
    assert last.move_of("champion") == audit.AliasMove("champion", "4", "2")

    code, out, _ = _cli(capsys, "history", "--project", PROJECT)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == len(audit.read_entries(cfg, PROJECT))
    assert "rollback: champion 4 -> 2, previous-champion 2 -> -" in lines[-1] and "(5xx)" in lines[-1]
    code, out, _ = _cli(capsys, "history", "--project", PROJECT, "--at", last.at, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["version"] == "2" and answer["until"] is None
    code, out, _ = _cli(capsys, "history", "--project", PROJECT, "--json")
    assert [s["version"] for s in json.loads(out)["champion_timeline"]] == ["2", "4", "2"]

    code, _, err = _cli(capsys, "history", "--project", PROJECT, "--at", "2001-01-01")
    assert code == 1 and "is before the first champion (version 2 since" in err
    code, _, err = _cli(capsys, "history", "--project", PROJECT, "--at", "tuesday 2pm")
    assert code == 1 and "cannot read the time 'tuesday 2pm'" in err
    code, _, err = _cli(capsys, "history", "--project", "nope")
    assert code == 1 and "unknown project 'nope'" in err

    asset = build_deployment_asset(bike)
    result = dg.materialize([asset], instance=instance, resources={"tracking": LocalMlflowTracking()})
    shown = {
        k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()
    }
    assert shown[names.META_CHAMPION_VERSION] == "2" and shown[names.META_PENDING_APPROVALS] is None
    timeline = str(shown[names.META_ALIAS_TIMELINE])
    assert timeline.splitlines()[2].startswith(f"| {last.at} | rollback | champion: 4 → 2")
    assert "(requested by alice)" in timeline and shown[names.META_AUDIT_ENTRIES] == len(lines)


def test_a_promotion_waits_for_approval_then_a_person_approves_it_from_the_cli(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = retrain(_approval(bike, timedelta(hours=72)), instance)
    verdict = meta(result, names.CHAMPION)
    assert verdict["verdict"] == "pending" and verdict["champion_after"] is None
    cfg = LocalMlflowTracking().config()
    assert "champion" not in aliases(cfg, PROJECT), "a pending verdict moves no alias"
    sent = [json.loads(line) for line in (mlops_home / "alerts.jsonl").read_text().splitlines()]
    assert [a["title"] for a in sent] == ["promotion of version 2 awaits approval"]
    assert sent[0]["details"]["approve"].startswith(
        "mlops-pipelines approve --project bike_sharing --version 2"
    )

    code, _, err = _cli(capsys, "approve", "--project", PROJECT, "--version", "1", "--reason", "ok")
    assert code == 1 and "version 1 is not waiting for approval (never requested)" in err
    assert "champion" not in aliases(cfg, PROJECT)

    code, out, _ = _cli(
        capsys, "approve", "--project", PROJECT, "--version", "2", "--by", "bob", "--reason", "fine"
    )
    assert code == 0 and out.strip() == "bike_sharing: version 2 approved; champion is version 2"
    assert aliases(cfg, PROJECT)["champion"] == "2" and "challenger" not in aliases(cfg, PROJECT)
    record = json.loads((mlops_home / "reports/bike_sharing/decisions/approval-v2.json").read_text())
    assert record["verdict"] == "promote" and (record["approval"]["by"], record["approval"]["reason"]) == (
        "bob",
        "fine",
    )
    last = audit.read_entries(cfg, PROJECT)[-1]
    assert last.action == "approve" and last.actor.startswith("bob via dagster run ")
    approved, refused = instance.get_runs(dg.RunsFilter(job_name=names.scoped(PROJECT, names.APPROVAL_JOB)))
    assert approved.is_success and not refused.is_success  # both on record, newest first
    assert approved.tags[names.KIND_TAG] == names.KIND_APPROVAL


def test_an_approval_left_past_its_expiry_is_rejected_recorded_and_alerted(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _approval(bike, timedelta(seconds=1))
    assert meta(retrain(spec, instance), names.CHAMPION)["verdict"] == "pending"
    time.sleep(1.5)
    # The daily maintenance job finds it expired (an idle project need not wait for a retrain).
    maintenance = run_job(
        build_definitions({spec.name: spec}), names.scoped(PROJECT, names.MAINTENANCE_JOB), instance
    )
    assert maintenance.success
    [output] = [e for e in maintenance.all_events if e.is_successful_output]
    assert output.step_output_data.metadata[names.META_EXPIRED_APPROVALS].value == "2"
    cfg = LocalMlflowTracking().config()
    expired = audit.read_entries(cfg, PROJECT)[-1]
    assert (expired.action, expired.reason, expired.versions) == (
        "approval-expired",
        "approval expired",
        ("2",),
    )
    sent = [json.loads(line)["title"] for line in (mlops_home / "alerts.jsonl").read_text().splitlines()]
    assert sent[-1] == "approval of version 2 expired"

    entries = len(audit.read_entries(cfg, PROJECT))
    code, _, err = _cli(capsys, "approve", "--project", PROJECT, "--version", "2", "--reason", "too late")
    assert code == 1 and "the approval of version 2 expired; it was rejected" in err
    assert "champion" not in aliases(cfg, PROJECT) and len(audit.read_entries(cfg, PROJECT)) == entries


def test_the_approval_job_launched_without_a_version_fails_naming_it(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    from mlops_pipelines.lib.promotion.manual import ChampionRequestError

    spec = specs[PROJECT]
    defs = build_definitions({PROJECT: spec})
    job = names.scoped(PROJECT, names.APPROVAL_JOB)
    with pytest.raises(
        ChampionRequestError, match="bike_sharing: approve needs the version waiting for approval"
    ):
        run_job(defs, job, instance, raise_on_error=True)  # the UI's default config: version unset
    assert audit.read_entries(LocalMlflowTracking().config(), PROJECT) == []
