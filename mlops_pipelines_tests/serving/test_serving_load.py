"""Serving under load, through real uvicorn: timeouts, back-pressure, concurrency limit, supervision.

The champion is the registry's `sabotaged` version (the real `plain` pipeline behind a switch
read at predict time): it sleeps, raises SystemExit (killing the scoring thread) or answers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import Live, live_server
from serving_support import SABOTAGE_ENV, Registry, isolated, request_rows, wait_for

from mlops_pipelines.serving.options import ServiceOptions

# No log child process and no ONNX compile: each app starts in a fraction of the time (CI budget).
FAST: dict[str, Any] = {
    "poll_seconds": 0.2,
    "supervise_seconds": 0.1,
    "runtime": "sklearn",
    "log_in_process": True,
}


@pytest.fixture
def sabotaged(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    registry.aliases(champion=registry.sabotaged)
    monkeypatch.setenv(SABOTAGE_ENV, "")
    yield monkeypatch
    registry.aliases(champion=registry.plain)


def _row(registry: Registry) -> dict[str, Any]:
    return request_rows(registry.frame.iloc[700:701], registry.spec)[0]


def _burst(live: Live, body: dict[str, Any], clients: int) -> list[httpx.Response]:
    """`clients` requests at once, each on its own connection."""
    answers: list[httpx.Response] = []
    gate = threading.Barrier(clients)

    def one() -> None:
        with live.client() as client:
            gate.wait()
            answers.append(client.post("/v1/predict", json=body))

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _metric(live: Live, name: str, labels: str = "") -> float:
    text = httpx.get(f"{live.url}/metrics").text
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_scoring_timeout_answers_504_with_the_request_id(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch
) -> None:
    options = ServiceOptions(**FAST, score_timeout_seconds=0.3)
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, "sleep:1500")
        slow = httpx.post(
            f"{live.url}/v1/predict", json={"row": _row(registry)}, headers={"x-request-id": "slow-1"}
        )
        assert slow.status_code == 504, slow.text
        assert slow.json() == {
            "error": "scoring_timeout",
            "message": "the model did not answer within 0.3 s",
            "request_id": "slow-1",
        }
        assert slow.headers["x-request-id"] == "slow-1"
        # Failure twin: a model well inside the timeout answers.
        sabotaged.setenv(SABOTAGE_ENV, "sleep:20")
        wait_for(
            lambda: httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)}).status_code == 200
        )
        assert _metric(live, "mlops_serving_requests_total", '{route="none",status="504"}') >= 1


@pytest.mark.parametrize(("max_queue", "overloaded"), [(1, True), (64, False)])
def test_a_full_scoring_queue_answers_503_with_retry_after(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch, max_queue: int, overloaded: bool
) -> None:
    options = ServiceOptions(**FAST, max_queue=max_queue, batch_max_rows=1, score_timeout_seconds=30)
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, "sleep:300")
        answers = _burst(live, {"row": _row(registry)}, 8)
    statuses = sorted(a.status_code for a in answers)
    refused = [a for a in answers if a.status_code == 503]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 1
    assert bool(refused) is overloaded, statuses
    for answer in refused:
        assert answer.json()["error"] == "overloaded" and answer.headers["retry-after"] == "1"
        assert answer.json()["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize(("limit", "refused"), [(3, True), (64, False)])
def test_uvicorn_limits_concurrency(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch, limit: int, refused: bool
) -> None:
    from mlops_pipelines.serving.server import server_config

    options = ServiceOptions(**FAST, limit_concurrency=limit)
    assert server_config(None, "127.0.0.1", 1, options).limit_concurrency == limit
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, "sleep:300")
        statuses = [a.status_code for a in _burst(live, {"row": _row(registry)}, 8)]
    assert set(statuses) <= {200, 503} and (503 in statuses) is refused, statuses


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # intended
def test_a_crashed_scoring_thread_is_restarted(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch
) -> None:
    options = ServiceOptions(**FAST, score_timeout_seconds=1.0)
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, "crash")
        lost = httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)})
        assert lost.status_code == 504  # its thread died with the job: answered, not awaited forever
        labels = '{why="died",worker="scoring-main"}'
        wait_for(lambda: _metric(live, "mlops_serving_worker_restarts_total", labels) == 1, what="restart")
        sabotaged.setenv(SABOTAGE_ENV, "")
        assert httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)}).status_code == 200
        ready = httpx.get(f"{live.url}/readyz").json()
        assert ready["status"] == "degraded" and "scoring-main restarted 1 time(s)" in " ".join(
            ready["reasons"]
        )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # intended
def test_a_scoring_thread_that_keeps_dying_fails_readiness(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch
) -> None:
    options = ServiceOptions(**FAST, score_timeout_seconds=0.5, max_restarts=0)
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, "crash")
        assert httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)}).status_code == 504
        wait_for(lambda: httpx.get(f"{live.url}/readyz").status_code == 503, what="readiness to fail")
        body = httpx.get(f"{live.url}/readyz").json()
        assert body["status"] == "failed" and "scoring-main thread keeps dying" in " ".join(body["reasons"])
        wait_for(lambda: _metric(live, "mlops_serving_ready") == 0.0, what="the gauge, on the timer")


@pytest.mark.parametrize(("sleep_ms", "hung"), [(2500, True), (150, False)])
def test_a_hung_scoring_thread_is_replaced(
    registry: Registry, tmp_path: Path, sabotaged: pytest.MonkeyPatch, sleep_ms: int, hung: bool
) -> None:
    options = ServiceOptions(**FAST, score_timeout_seconds=5.0, hang_seconds=0.5)
    with live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live:
        sabotaged.setenv(SABOTAGE_ENV, f"sleep:{sleep_ms}")
        first = threading.Thread(
            target=lambda: httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)}, timeout=30)
        )
        first.start()
        labels = '{why="hung",worker="scoring-main"}'
        if hung:
            wait_for(
                lambda: _metric(live, "mlops_serving_worker_restarts_total", labels) == 1, what="replacement"
            )
            sabotaged.setenv(SABOTAGE_ENV, "")
            # The stuck thread still sleeps; its replacement answers.
            assert httpx.post(f"{live.url}/v1/predict", json={"row": _row(registry)}).status_code == 200
        first.join(30)
        assert _metric(live, "mlops_serving_worker_restarts_total", labels) == (1.0 if hung else 0.0)
