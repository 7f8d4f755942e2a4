"""MLflow's HTTP bounds set around a session: credentials do not outlive it, and no variable is
ever deleted under a thread that iterates os.environ (requests does, on every call)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlops_pipelines.lib.registry.session import TrackingConfig, open_client

BOUNDS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
SECRETS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*BOUNDS, *SECRETS):
        monkeypatch.delenv(name, raising=False)


def test_credentials_go_and_http_bounds_stay_after_a_session(tmp_path: Path, unset: None) -> None:
    base = TrackingConfig.embedded(tmp_path)
    cfg = TrackingConfig(base.tracking_uri, None, base.artifact_root, username="u", password="p-0123456789")
    with open_client(cfg):
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "p-0123456789"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == str(cfg.http_max_retries)
    assert all(name not in os.environ for name in SECRETS)
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == str(cfg.http_max_retries)


def test_a_value_that_was_set_is_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    with open_client(TrackingConfig.embedded(tmp_path)):
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] != "77"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"


def test_sessions_never_break_a_thread_iterating_the_environment(tmp_path: Path, unset: None) -> None:
    cfg = TrackingConfig.embedded(tmp_path)
    errors: list[BaseException] = []
    stop = threading.Event()

    def iterate() -> None:
        while not stop.is_set():
            try:
                dict(os.environ.items())
            except KeyError as err:  # what a deleted variable did to requests' proxy lookup
                errors.append(err)
                return

    reader = threading.Thread(target=iterate)
    reader.start()
    try:
        for _ in range(300):
            with open_client(cfg):
                pass
    finally:
        stop.set()
        reader.join()
    assert errors == []


def test_a_new_embedded_store_is_created_without_mlflow_schema_chatter(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from pathlib import Path\n"
        "from mlops_pipelines.lib.registry.session import TrackingConfig, open_client\n"
        f"with open_client(TrackingConfig.embedded(Path({str(tmp_path)!r}))) as client:\n"
        "    print(len(client.search_experiments()))\n"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"  # the store was created (its Default experiment)
    assert "database tables" not in done.stderr, done.stderr
