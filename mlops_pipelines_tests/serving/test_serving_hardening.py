"""What the service tells clients and operators: gauges on a timer, no leaked internals, Host
allow-list, token length, and the prediction log at shutdown."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from live_server import live_server
from serving_support import TOKEN, Registry, isolated, request_rows, serve, wait_for

from mlops_pipelines.lib.lake import read
from mlops_pipelines.serving.http import TOKEN_ENV, ServingConfigError
from mlops_pipelines.serving.options import ServiceOptions

FAST = ServiceOptions(poll_seconds=0.2, supervise_seconds=0.1, log_flush_seconds=600)
# What must never reach a client: exception text, paths, store URIs.
LEAKS = re.compile(r"Traceback|sqlite:|file:|/tmp/|mlflow\.db|Error: |\.pkl")


def _gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, name
    return float(found.group(1))


@pytest.mark.parametrize("broken_challenger", [True, False])
def test_case_30_degraded_gauges_refresh_without_readyz_calls(
    registry: Registry, tmp_path: Path, broken_challenger: bool
) -> None:
    # runtime onnx: the sabotaged wrapper cannot compile, so loading it fails (a bad version).
    registry.aliases(champion=registry.plain, challenger=registry.sabotaged if broken_challenger else None)
    options = ServiceOptions(poll_seconds=0.2, supervise_seconds=0.1, runtime="onnx", log_in_process=True)
    with serve(isolated(registry.settings, tmp_path), registry.spec, options, ready=False) as client:
        # Only /metrics is read: the supervisor's timer sets the gauges.
        wait_for(lambda: _gauge(client.get("/metrics").text, "mlops_serving_ready") == 1.0, what="ready")
        wait_for(
            lambda: _gauge(client.get("/metrics").text, "mlops_serving_degraded") == float(broken_challenger),
            what="the degraded gauge",
        )
    registry.aliases(champion=registry.plain)


def test_case_29_no_response_carries_exception_text_paths_or_uris(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.aliases(champion=registry.plain, challenger=registry.sabotaged)
    options = ServiceOptions(poll_seconds=0.2, supervise_seconds=0.1, runtime="onnx", log_in_process=True)
    caplog.set_level(logging.ERROR)
    with (
        live_server(isolated(registry.settings, tmp_path), registry.spec, options) as live,
        live.client() as client,
    ):
        wait_for(lambda: client.get("/readyz").json()["status"] == "degraded", what="the failed load")
        answers = [client.get(path) for path in ("/readyz", "/v1/deployment", "/nowhere", "/metrics")]
        answers.append(client.put("/v1/predict"))

        def explode() -> dict[str, Any]:
            raise RuntimeError(f"cannot open {registry.settings.tracking_uri}")

        monkeypatch.setattr(live.app.state.service.router, "snapshot_dict", explode)
        broken = client.get("/v1/deployment")  # through the 500 handler
    registry.aliases(champion=registry.plain)
    assert broken.status_code == 500 and broken.json()["error"] == "internal_error"
    assert broken.json()["request_id"] == broken.headers["x-request-id"]
    for answer in [*answers, broken]:
        assert not LEAKS.search(answer.text), (answer.request.url, answer.text)
    reasons = answers[0].json()["reasons"]
    assert reasons == [
        f"challenger: version {registry.sabotaged} failed to load (CompileError); still serving nothing"
    ]
    assert "uri" not in answers[1].json()["prediction_log"]
    assert answers[4].status_code == 405 and answers[4].headers["allow"] == "POST"
    # Failure twin: the operator's log has what the client does not.
    assert "MissingShapeCalculator" in caplog.text and registry.settings.tracking_uri in caplog.text


@pytest.mark.parametrize("allowed", [("api.example",), None])
def test_case_38_foreign_host_is_refused_with_403(
    registry: Registry, tmp_path: Path, allowed: tuple[str, ...] | None
) -> None:
    registry.aliases(champion=registry.plain)
    row = request_rows(registry.frame.iloc[10:11], registry.spec)[0]
    options = ServiceOptions(poll_seconds=0.2, allowed_hosts=allowed, runtime="sklearn", log_in_process=True)
    with serve(isolated(registry.settings, tmp_path), registry.spec, options, ready=False) as client:
        wait_for(lambda: client.get("/readyz", headers={"host": "api.example"}).status_code == 200)
        foreign = client.post("/v1/predict", json={"row": row}, headers={"host": "evil.example:8080"})
        own = client.post("/v1/predict", json={"row": row}, headers={"host": "API.example:8080"})
        assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 200  # liveness
    assert own.status_code == 200
    if allowed:
        assert foreign.status_code == 403 and foreign.json()["error"] == "host_not_allowed"
        assert foreign.json()["request_id"] == foreign.headers["x-request-id"]
    else:
        assert foreign.status_code == 200  # no allow-list: any Host, as before


def test_a_short_token_is_refused_at_start_naming_the_setting(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_pipelines.serving.app import create_app

    monkeypatch.setenv(TOKEN_ENV, TOKEN[:31])
    with pytest.raises(ServingConfigError, match=f"{TOKEN_ENV} has 31 characters; it must have at least 32"):
        create_app("bike_sharing", isolated(registry.settings, tmp_path), spec=registry.spec)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_pipelines.serving", "--project", "bike_sharing", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, TOKEN_ENV: "short"},
    )
    assert done.returncode == 2 and f"{TOKEN_ENV} has 5 characters" in done.stderr
    assert "Traceback" not in done.stderr
    monkeypatch.setenv(TOKEN_ENV, TOKEN)  # twin: 32 characters start
    assert create_app("bike_sharing", isolated(registry.settings, tmp_path), spec=registry.spec)


def test_acknowledged_log_entries_are_flushed_at_shutdown(registry: Registry, tmp_path: Path) -> None:
    registry.aliases(champion=registry.plain)
    settings = isolated(registry.settings, tmp_path)
    rows = request_rows(registry.frame.iloc[100:125], registry.spec)
    with live_server(settings, registry.spec, FAST) as live, live.client() as client:
        ids = [client.post("/v1/predict", json={"row": row}).json()["request_id"] for row in rows]
        assert live.app.state.service.writer.rows_written == 0  # nothing flushed before shutdown
    log = read(settings.table_uri("bike_sharing", "predictions"))
    assert sorted(log["request_id"]) == sorted(ids)


def test_rows_the_log_cannot_write_at_shutdown_are_reported_not_silently_lost(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry.aliases(champion=registry.plain)
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake directory should be")
    settings = isolated(registry.settings, tmp_path)
    rows = request_rows(registry.frame.iloc[100:110], registry.spec)
    caplog.set_level(logging.ERROR)
    with live_server(settings, registry.spec, FAST) as live, live.client() as client:
        for row in rows:
            assert client.post("/v1/predict", json={"row": row}).status_code == 200
        writer = live.app.state.service.writer
    assert writer.rows_lost == 10
    assert "10 acknowledged row(s) could not be written" in caplog.text
