"""Shadow and canary with real registered models: who answers, what is logged, and the guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_support import SABOTAGE_ENV, SERVED_RTOL, Registry, isolated, request_rows, serve, wait_for

from mlops_pipelines.lib.features import build_features
from mlops_pipelines.lib.lake import read
from mlops_pipelines.serving.app import ServiceOptions
from mlops_pipelines.serving.router import CanaryRouter, GuardLimits, entity_bucket, read_decisions
from mlops_pipelines.spec import ProjectSpec

OPTIONS = ServiceOptions(poll_seconds=0.2, log_flush_seconds=0.2, guard_min_requests=10)


def _spec(registry: Registry, **serving: Any) -> ProjectSpec:
    return registry.spec.model_copy(update={"serving": registry.spec.serving.model_copy(update=serving)})


def _expected(registry: Registry, version: str, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(registry.models[version].predict(build_features(frame, registry.spec)))


def _wait_for_canary(client: TestClient, state: str = "canary") -> None:
    wait_for(lambda: client.get("/v1/deployment").json()["canary"]["state"] == state, what=f"canary {state}")


def test_shadow_never_changes_answers_and_logs_both_routes(registry: Registry, tmp_path: Path) -> None:
    registry.aliases(champion=registry.plain, challenger=registry.other)
    settings = isolated(registry.settings, tmp_path)
    sample = registry.frame.iloc[2000:2040]
    rows = request_rows(sample, registry.spec)
    with serve(settings, _spec(registry, shadow=True, canary_share=0.0), OPTIONS) as client:
        wait_for(
            lambda: client.get("/v1/deployment").json()["routes"]["shadow"] == registry.other, what="shadow"
        )
        answers = [client.post("/v1/predict", json={"row": row}).json() for row in rows[:30]]
        answers.append(client.post("/v1/predict", json={"rows": rows[30:]}).json())
    assert {(a["route"], a["model_version"]) for a in answers} == {("champion", registry.plain)}
    served = [p for a in answers for p in a["predictions"]]
    np.testing.assert_allclose(served, _expected(registry, registry.plain, sample), rtol=SERVED_RTOL)
    log = read(settings.table_uri("bike_sharing", "predictions"))
    assert log["route"].value_counts().to_dict() == {"champion": 40, "shadow": 40}
    for route, version in (("champion", registry.plain), ("shadow", registry.other)):
        part = log[log["route"] == route].sort_values("entity", key=lambda s: s.astype(int))
        assert set(part["model_version"]) == {version}
        np.testing.assert_allclose(part["prediction"], _expected(registry, version, sample), rtol=SERVED_RTOL)
    assert set(log.loc[log["route"] == "shadow", "request_id"]) == {a["request_id"] for a in answers}


def test_canary_split_matches_the_share_and_is_sticky(registry: Registry, tmp_path: Path) -> None:
    registry.aliases(champion=registry.plain, challenger=registry.other)
    sample = registry.frame.iloc[3000:5000]  # 2,000 distinct entities (`instant`)
    rows = request_rows(sample, registry.spec)
    spec = _spec(registry, shadow=False, canary_share=0.3, baking_requests=10_000)
    with serve(isolated(registry.settings, tmp_path), spec, OPTIONS) as client:
        _wait_for_canary(client)
        routes: list[str] = []
        predictions: list[float] = []
        for start in range(0, len(rows), 100):
            body = client.post("/v1/predict", json={"rows": rows[start : start + 100]}).json()
            assert body["route"] == "mixed" and len(body["routes"]) == 100
            routes += body["routes"]
            predictions += body["predictions"]
        again = [client.post("/v1/predict", json={"row": row}).json()["route"] for row in rows[:40]]
    share = routes.count("canary") / len(routes)
    assert 0.25 <= share <= 0.35
    assert again == routes[:40]  # the same entity, the same model, alone or in a batch
    hashed = [
        "canary" if entity_bucket("bike_sharing", str(i)) < 0.3 else "champion" for i in sample["instant"]
    ]
    assert routes == hashed
    canary = np.array([r == "canary" for r in routes])
    expected = np.where(
        canary, _expected(registry, registry.other, sample), _expected(registry, registry.plain, sample)
    )
    np.testing.assert_allclose(predictions, expected, rtol=SERVED_RTOL)


def _drive_until(client: TestClient, rows: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    answers = []
    for row in rows:
        response = client.post("/v1/predict", json={"row": row})
        assert response.status_code == 200, response.text
        answers.append(response.json())
        if client.get("/v1/deployment").json()["canary"]["state"] == state:
            return answers
    raise AssertionError(f"the guard never reached '{state}' after {len(rows)} requests")


def test_failing_canary_is_rolled_back_and_clients_never_notice(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SABOTAGE_ENV, "fail")
    registry.aliases(champion=registry.plain, challenger=registry.sabotaged)
    settings = isolated(registry.settings, tmp_path)
    sample = registry.frame.iloc[6000:6200]
    rows = request_rows(sample, registry.spec)
    with serve(settings, _spec(registry, shadow=False, canary_share=0.5), OPTIONS) as client:
        _wait_for_canary(client)
        answers = _drive_until(client, rows, "rolled-back")
        after = [
            client.post("/v1/predict", json={"row": row}).json()
            for row in rows[len(answers) : len(answers) + 20]
        ]
        deployment = client.get("/v1/deployment").json()
    # Every canary failure was answered by the champion instead.
    assert {a["route"] for a in answers + after} == {"champion"}
    served = [a["predictions"][0] for a in answers]
    np.testing.assert_allclose(
        served, _expected(registry, registry.plain, sample.iloc[: len(answers)]), rtol=SERVED_RTOL
    )
    assert deployment["canary"]["share"] == 0.0 and deployment["routes"]["canary"] is None
    [decision] = read_decisions(settings.home / "deployments" / "bike_sharing.jsonl")
    assert decision["decision"] == "rollback" and "error rate" in decision["reason"]
    assert (
        decision["challenger_version"] == registry.sabotaged
        and decision["champion_version"] == registry.plain
    )
    assert decision["numbers"]["window_error_rate"] == 1.0 and decision["numbers"]["share_before"] == 0.5


def test_slow_canary_is_rolled_back_on_p99(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SABOTAGE_ENV, "sleep:60")
    registry.aliases(champion=registry.plain, challenger=registry.sabotaged)
    settings = isolated(registry.settings, tmp_path)
    rows = request_rows(registry.frame.iloc[7000:7040], registry.spec)
    spec = _spec(registry, shadow=False, canary_share=1.0, canary_max_p99_ms=30.0)
    with serve(settings, spec, OPTIONS) as client:
        _wait_for_canary(client)
        answers = _drive_until(client, rows, "rolled-back")
    assert {a["route"] for a in answers} == {"canary"}  # slow, but it did answer
    [decision] = read_decisions(settings.home / "deployments" / "bike_sharing.jsonl")
    assert "p99" in decision["reason"] and decision["numbers"]["window_p99_ms"] > 30.0


def test_healthy_canary_bakes_into_a_promotion_recommendation(registry: Registry, tmp_path: Path) -> None:
    registry.aliases(champion=registry.plain, challenger=registry.other)
    settings = isolated(registry.settings, tmp_path)
    rows = request_rows(registry.frame.iloc[8000:8040], registry.spec)
    spec = _spec(registry, shadow=False, canary_share=1.0, baking_requests=12)
    with serve(settings, spec, OPTIONS) as client:
        _wait_for_canary(client)
        answers = _drive_until(client, rows, "promote-recommended")
        deployment = client.get("/v1/deployment").json()
    assert len(answers) == 12 and deployment["canary"]["share"] == 1.0
    [decision] = read_decisions(settings.home / "deployments" / "bike_sharing.jsonl")
    assert decision["decision"] == "promote-recommended" and decision["challenger_version"] == registry.other
    assert decision["numbers"]["healthy"] == 12 and decision["numbers"]["errors"] == 0


def _router(path: Path, share: float = 0.5) -> CanaryRouter:
    return CanaryRouter("demo", share, GuardLimits(0.1, 100.0, 50, window=20, min_requests=5), path)


def test_entity_buckets_are_stable_and_spread() -> None:
    buckets = [entity_bucket("demo", str(i)) for i in range(4000)]
    assert buckets == [entity_bucket("demo", str(i)) for i in range(4000)]
    assert 0.47 < float(np.mean(np.array(buckets) < 0.5)) < 0.53
    assert entity_bucket("demo", "7") != entity_bucket("other", "7")  # projects do not share cohorts


def test_guard_waits_for_enough_requests_then_trips(tmp_path: Path) -> None:
    router = _router(tmp_path / "d.jsonl")
    router.on_challenger("2")
    for _ in range(4):
        router.observe(False, 1.0, "1")
    assert router.share == 0.5  # 4 failures are below min_requests: no verdict yet
    router.observe(False, 1.0, "1")
    assert router.share == 0.0 and router.snapshot().state == "rolled-back"


def test_rollback_survives_a_restart_but_a_new_challenger_gets_traffic(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    first = _router(path)
    first.on_challenger("2")
    for _ in range(5):
        first.observe(False, 1.0, "1")
    restarted = _router(path)
    restarted.on_challenger("2")
    assert restarted.share == 0.0 and restarted.snapshot().state == "rolled-back"
    restarted.on_challenger("3")
    assert restarted.share == 0.5 and restarted.snapshot().state == "canary"


def test_quality_hook_rolls_back_a_worse_canary_only(tmp_path: Path) -> None:
    router = _router(tmp_path / "d.jsonl")
    router.on_challenger("2")
    assert not router.observe_quality(
        "mae", champion_value=20.0, canary_value=20.5, higher_is_better=False, tolerance=1
    )
    assert router.share == 0.5
    assert router.observe_quality("mae", champion_value=20.0, canary_value=25.0, higher_is_better=False)
    assert router.share == 0.0
    assert read_decisions(tmp_path / "d.jsonl")[-1]["numbers"]["metric"] == "mae"
