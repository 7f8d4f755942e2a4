"""The deployment asset surfaces the serving guard's recorded decisions in Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from mlops_pipelines.assets.deployment import build_deployment_asset
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.spec import ProjectSpec


def test_guard_decisions_become_metadata(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    log = mlops_home / "deployments" / "bike_sharing.jsonl"
    log.parent.mkdir(parents=True)
    entries = [
        {
            "at": "2026-11-30T10:00:00",
            "decision": "rollback",
            "reason": "canary p99 412 ms > 250 ms",
            "challenger_version": "3",
            "canary_share": 0.0,
        },
        {
            "at": "2026-11-30T11:00:00",
            "decision": "promote-recommended",
            "reason": "500 healthy requests",
            "challenger_version": "4",
            "canary_share": 0.1,
        },
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    asset = build_deployment_asset(specs["bike_sharing"])
    result = dg.materialize([asset], instance=instance, resources={"tracking": LocalMlflowTracking()})
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["rollbacks"].value == 1 and meta["promote_recommended"].value == 1
    assert meta["last_decision"].value == "promote-recommended"
    assert meta["champion_version"].value is None  # no registered model: None, not "none"
    assert meta["challenger_version"].value is None and meta["previous_champion_version"].value is None
    assert meta["last_reason"].value == "500 healthy requests"
    assert "canary p99 412 ms" in str(meta["history"].value)


def test_no_decisions_yet_is_reported_as_such(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    asset = build_deployment_asset(specs["bike_sharing"])
    result = dg.materialize([asset], instance=instance, resources={"tracking": LocalMlflowTracking()})
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["decisions"].value == 0 and meta["last_decision"].value is None  # None, not "none"
    assert meta["last_reason"].value is None and meta["rollbacks"].value == 0
