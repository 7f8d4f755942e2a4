"""The image's two scripts (deploy/docker/): the entrypoint hands `dagster ...`, `celery ...` and
`mlflow ...` to their programs (Dagster's Helm chart starts pods with args only) and everything
else to `mlops-pipelines`; the HEALTHCHECK probes the role's port. Run here as they run in the
image, with stand-in programs on PATH and a loopback HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from mlops_pipelines_tests.deploy.k8s_models import load_documents

DOCKER = Path(__file__).resolve().parents[2] / "deploy" / "docker"


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    """Programs that print their name and arguments (and `dagster` exits with $DAGSTER_STUB_RC)."""
    for name in ("mlops-pipelines", "dagster", "celery", "mlflow"):
        stub = tmp_path / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*"\nexit "${{DAGSTER_STUB_RC:-0}}"\n', encoding="utf-8")
        stub.chmod(0o755)
    return tmp_path


def _entrypoint(stub_bin: Path, *args: str) -> str:
    env = {"PATH": f"{stub_bin}:/usr/bin:/bin"}
    done = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_entrypoint_runs_mlops_pipelines_by_default(stub_bin: Path) -> None:
    assert (
        _entrypoint(stub_bin, "serve", "--project", "bike_sharing")
        == "mlops-pipelines serve --project bike_sharing"
    )
    assert _entrypoint(stub_bin) == "mlops-pipelines"


def test_entrypoint_hands_the_charts_commands_to_their_programs(stub_bin: Path) -> None:
    assert _entrypoint(stub_bin, "dagster", "api", "grpc", "-p", "4000") == "dagster api grpc -p 4000"
    assert (
        _entrypoint(stub_bin, "celery", "-A", "dagster_celery.app", "worker")
        == "celery -A dagster_celery.app worker"
    )
    assert _entrypoint(stub_bin, "mlflow", "server") == "mlflow server"


def test_every_manifest_command_reaches_its_program(stub_bin: Path) -> None:
    manifests = sorted((DOCKER.parent / "k8s").glob("*.yaml"))
    containers = [
        c
        for d in (doc for path in manifests for doc in load_documents(path))
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert len(containers) >= 4
    for container in containers:
        args = [str(a) for a in container["args"]]
        program = args[0] if args[0] in ("celery", "mlflow") else "mlops-pipelines"
        expected = " ".join([program, *(args[1:] if program == args[0] else args)])
        assert _entrypoint(stub_bin, *args) == expected


def test_entrypoint_runs_no_other_program_than_those_it_names(stub_bin: Path) -> None:
    # `sh` and `rm` are on PATH, but they are arguments of mlops-pipelines, never commands.
    assert _entrypoint(stub_bin, "sh", "-c", "echo hi") == "mlops-pipelines sh -c echo hi"
    assert _entrypoint(stub_bin, "rm", "-rf", "/x") == "mlops-pipelines rm -rf /x"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _healthcheck(
    target: str | None, stub_bin: Path | None = None, rc: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_HEALTHCHECK"}
    if target is not None:
        env["MLOPS_HEALTHCHECK"] = target
    if stub_bin is not None:
        env["PATH"] = f"{stub_bin}:{env['PATH']}"
        env["DAGSTER_STUB_RC"] = str(rc)
    command = [sys.executable, str(DOCKER / "healthcheck.py")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_healthcheck_passes_a_live_endpoint_and_fails_a_503(http_port: int) -> None:
    assert _healthcheck(f"http://127.0.0.1:{http_port}/healthz").returncode == 0
    failed = _healthcheck(f"http://127.0.0.1:{http_port}/readyz")
    assert failed.returncode == 1
    assert failed.stderr.strip() == f"unhealthy: http://127.0.0.1:{http_port}/readyz: HTTP 503"


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, closed again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failed = _healthcheck(f"http://127.0.0.1:{port}/healthz")
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz: URLError")


def test_healthcheck_for_a_code_server_and_a_worker(stub_bin: Path) -> None:
    assert _healthcheck("grpc:4000", stub_bin, rc=0).returncode == 0
    down = _healthcheck("grpc:4000", stub_bin, rc=1)
    assert (down.returncode, down.stderr.strip()) == (1, "unhealthy: code server on port 4000: not serving")
    assert _healthcheck("none").returncode == 0


@pytest.mark.parametrize("target", ["grpc:abc", "tcp://127.0.0.1:1", "8080"])
def test_healthcheck_refuses_a_setting_it_does_not_understand(target: str) -> None:
    failed = _healthcheck(target)
    assert failed.returncode == 1
    assert f"MLOPS_HEALTHCHECK={target!r}" in failed.stderr
