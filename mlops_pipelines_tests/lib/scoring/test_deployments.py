"""The guard's decision record as the deployment asset reads it: written by the real canary
guard, read back typed; the serving aliases from a real (SQLite) registry."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.scoring.deployments import (
    PROMOTE_RECOMMENDED,
    ROLLBACK,
    DecisionEntry,
    decisions_path,
    deployment_state,
    read_decision_entries,
    read_decisions,
)
from mlops_pipelines.serving.router import CanaryRouter, GuardLimits
from mlops_pipelines.spec import ProjectSpec


def test_the_guards_own_decisions_read_back_typed(tmp_path: Path) -> None:
    path = decisions_path(tmp_path, "bike_sharing")
    assert path == tmp_path / "deployments" / "bike_sharing.jsonl"
    router = CanaryRouter(
        "bike_sharing", 0.5, GuardLimits(0.05, 250.0, baking_requests=30, min_requests=20), path
    )
    router.on_challenger("4")
    for _ in range(30):
        router.observe(True, 5.0, "3")  # healthy: promote-recommended after the baking requests
    router.on_challenger("5")
    for _ in range(20):
        router.observe(False, 5.0, "3")  # every request fails: rollback
    [recommended, rollback] = read_decision_entries(path)
    assert (recommended.decision, recommended.challenger_version, recommended.champion_version) == (
        PROMOTE_RECOMMENDED,
        "4",
        "3",
    )
    assert recommended.canary_share == 0.5 and recommended.project == "bike_sharing"
    assert (rollback.decision, rollback.challenger_version, rollback.canary_share) == (ROLLBACK, "5", 0.0)
    assert rollback.reason is not None and "error rate" in rollback.reason
    assert rollback.numbers["requests"] == 20 and rollback.at is not None
    assert [line["decision"] for line in read_decisions(path)] == [PROMOTE_RECOMMENDED, ROLLBACK]


def test_no_record_yet_reads_as_no_decisions(tmp_path: Path) -> None:
    path = decisions_path(tmp_path, "bike_sharing")
    assert read_decisions(path) == [] and read_decision_entries(path) == ()


def test_a_line_without_a_field_reads_that_field_as_none() -> None:
    entry = DecisionEntry.of({"decision": "rollback", "challenger_version": 7})
    assert (entry.decision, entry.challenger_version) == ("rollback", "7")
    assert (entry.at, entry.reason, entry.champion_version, entry.canary_share, entry.project) == (None,) * 5
    assert entry.numbers == {}


def test_deployment_state_without_a_registered_model_has_no_versions(
    specs: dict[str, ProjectSpec], tracking: TrackingConfig, tmp_path: Path
) -> None:
    spec = specs["bike_sharing"]
    path = decisions_path(tmp_path, spec.name)
    path.parent.mkdir(parents=True)
    lines = [
        {"at": "2026-11-30T10:00:00", "decision": ROLLBACK, "reason": "p99", "challenger_version": "3"},
        {
            "at": "2026-11-30T11:00:00",
            "decision": PROMOTE_RECOMMENDED,
            "reason": "ok",
            "challenger_version": "4",
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    state = deployment_state(spec, tracking, tmp_path)
    assert (state.champion_version, state.challenger_version, state.previous_champion_version) == (None,) * 3
    assert state.configured_canary_share == spec.serving.canary_share and state.shadow == spec.serving.shadow
    assert (state.count(ROLLBACK), state.count(PROMOTE_RECOMMENDED), len(state.decisions)) == (1, 1, 2)
    assert state.last is not None and state.last.challenger_version == "4"
    assert [e.challenger_version for e in state.history] == ["3", "4"]
