"""A tracking server that drops out during a retrain (fault cases 10 and 40), for real: a real
`mlflow server` behind a loopback TCP relay that the test cuts. A short outage is retried with
backoff and the run succeeds with one model version and no MLflow run left RUNNING; an outage
that lasts fails the run after the retries, naming the server, with nothing registered."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import requests

from mlops_pipelines import names
from mlops_pipelines.assets.common import OUTAGE_RETRIES
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import load_specs
from mlops_pipelines_tests.production_env import closed_port
from mlops_pipelines_tests.stack.stack_support import PROJECT, small_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

READY_SECONDS = 180.0  # MLflow's server takes ~25 s to start on 2 idle cores
OUTAGE_CLIENT_ATTEMPTS = 1 + TrackingConfig.http_max_retries  # what one MLflow call tries


class Relay:
    """Forwards loopback connections to the server while up; while down, cuts each one at once."""

    def __init__(self, target: int) -> None:
        self.target, self.up = target, True
        self.refused = 0
        self.up_after: int | None = None  # come back after refusing this many connections
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                self.refused += 1
                self.up = self.up_after is not None and self.refused >= self.up_after
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other side closed: the copy is over either way
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):  # already closed by the other copy
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("mlflow_server")
    port = closed_port()
    command = [
        *(str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
        *("--serve-artifacts", "--artifacts-destination", str(root / "artifacts")),
    ]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**_base_env(), **env})
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _healthy(port):
            assert process.poll() is None, (root / "server.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class Project:
    name: str
    defs: dg.Definitions
    instance: dg.DagsterInstance
    relay: Relay

    def retrain(self) -> dg.ExecuteInProcessResult:
        job = names.scoped(self.name, names.RETRAIN_JOB)
        return run_job(self.defs, job, self.instance, tags={names.KIND_TAG: names.KIND_BOOTSTRAP})


@pytest.fixture
def project(server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    relay = Relay(server)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_TRACKING_URI", f"http://127.0.0.1:{relay.port}")
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", f"mlflow-artifacts:/{tmp_path.name}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    specs = load_specs([small_project(tmp_path / "projects").parent])
    # A project name of its own per test: both share one server.
    spec = specs[PROJECT].model_copy(update={"name": f"outage_{tmp_path.name[-12:].replace('-', '_')}"})
    defs = build_definitions({spec.name: spec})
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        assert run_job(
            defs, names.scoped(spec.name, names.DATA_JOB), instance, "2024-01-01", "2024-01-20"
        ).success
        yield Project(spec.name, defs, instance, relay)
    relay.close()


def _retries(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        e.step_key or "" for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]


def _versions(port: int, project: str) -> list[dict]:
    found = requests.get(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/model-versions/search",
        params={"filter": f"name='{project}'"},
        timeout=30,
    )
    found.raise_for_status()  # an error answer must not read as "no versions"
    return list(found.json().get("model_versions", []))


def _running_runs(port: int) -> list[str]:
    experiments = requests.get(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search", params={"max_results": 1000}, timeout=30
    ).json()["experiments"]
    found = requests.post(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
        json={
            "experiment_ids": [e["experiment_id"] for e in experiments],
            "filter": "attributes.status = 'RUNNING'",
        },
        timeout=30,
    )
    found.raise_for_status()  # an error answer must not read as "nothing RUNNING"
    return [r["info"]["run_id"] for r in found.json().get("runs", [])]


def test_a_short_outage_is_retried_and_the_retrain_succeeds_with_one_version(
    server: int, project: Project
) -> None:
    name, relay = project.name, project.relay
    # Down until the client has given up once (its own retries refused too): the step is then
    # retried by its RetryRequested, and the server is back by then.
    relay.up, relay.up_after = False, OUTAGE_CLIENT_ATTEMPTS
    result = project.retrain()
    assert result.success
    assert names.scoped(name, names.MODEL) in _retries(result)  # the outage was met, and retried
    # One trained version and its go-live refit: the retry registered nothing twice.
    refit_of = [
        {t["key"]: t["value"] for t in v.get("tags", [])}.get(names.ML_REFIT_OF)
        for v in _versions(server, name)
    ]
    assert sorted(refit_of, key=str) == sorted([None, "1"], key=str)
    assert _running_runs(server) == []


def test_an_outage_that_lasts_fails_the_retrain_naming_the_server_with_nothing_registered(
    server: int, project: Project
) -> None:
    name, relay = project.name, project.relay
    relay.up = False
    result = project.retrain()
    assert not result.success
    assert _retries(result) == [names.scoped(name, names.MODEL)] * OUTAGE_RETRIES
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = str(failure.event_specific_data.error)  # type: ignore[union-attr]
    assert f"127.0.0.1:{relay.port}" in message and "unreachable" in message
    relay.up = True
    assert _versions(server, name) == []
