"""The service as a real process on a loopback port, started and stopped by PID."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_support import (
    TOKEN,
    Registry,
    artifact_dir,
    isolated,
    register,
    request_rows,
    start_server,
    wait_for,
)

from mlops_pipelines.lib.lake import read


class SteadyClient:
    """One client sending single-row requests back to back until stopped; records every answer."""

    def __init__(self, url: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.rows = rows
        self.answers: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0, headers=self.headers) as client:
            i = 0
            while not self._stop.is_set():
                try:
                    response = client.post("/v1/predict", json={"row": self.rows[i % len(self.rows)]})
                except httpx.HTTPError as err:
                    self.failures.append(f"{type(err).__name__}: {err}")
                    continue
                i += 1
                version = response.json().get("model_version") if response.status_code == 200 else None
                self.answers.append((response.status_code, version))
                if response.status_code != 200:
                    self.failures.append(response.text)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def versions_since(self, start: int) -> list[str | None]:
        return [v for _, v in self.answers[start:]]


# Over 10 s here: the server process imports mlflow, sklearn and scipy before it is ready.
@pytest.mark.slow
def test_hot_swap_corrupt_champion_and_sigterm_under_load(registry: Registry, tmp_path: Path) -> None:
    """One server process (they take seconds to start), three guarantees checked in order:

    1. moving the champion alias under steady load fails no request and swaps atomically;
    2. a champion whose artifact changed after training is refused: the old one keeps serving
       and /readyz reports degraded, naming the version;
    3. SIGTERM drains everything: the log holds exactly one champion row per answered request.
    """
    registry.aliases(champion=registry.plain)
    settings = isolated(registry.settings, tmp_path)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # The log flush interval outlasts the test: rows reach the table by row count or at shutdown.
    server = start_server(
        settings,
        "bike_sharing",
        tmp_path / "server.log",
        {"MLOPS_SERVING_TOKEN": TOKEN},
        "--poll-seconds",
        "0.2",
        "--no-shadow",
        "--canary-share",
        "0",
        "--log-flush-seconds",
        "600",
    )
    try:
        server.wait_ready(headers=auth)
        assert httpx.post(f"{server.url}/v1/predict", json={"row": {}}).status_code == 401
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        rows = request_rows(registry.frame.iloc[9000:9050], registry.spec)
        with SteadyClient(server.url, rows, auth) as load:
            wait_for(lambda: len(load.answers) >= 20, what="steady traffic")
            registry.aliases(champion=registry.other)  # the hot swap, while requests flow
            wait_for(lambda: registry.other in load.versions_since(0), what="the new champion")
            swapped_at = len(load.answers)
            wait_for(lambda: len(load.answers) >= swapped_at + 20, what="traffic after the swap")

            corrupt = register(
                registry.settings, registry.spec, registry.models[registry.plain], registry.frame[:20]
            )
            registry.aliases(champion=registry.other)  # registration also set the challenger alias
            model_file = artifact_dir(registry.settings, "bike_sharing", corrupt) / "model.pkl"
            data = bytearray(model_file.read_bytes())
            data[len(data) // 2] ^= 0xFF
            model_file.write_bytes(bytes(data))
            registry.aliases(champion=corrupt)

            def degraded() -> bool:
                body = httpx.get(f"{server.url}/readyz", headers=auth).json()
                return body["status"] == "degraded" and any(
                    f"version {corrupt}" in r for r in body["reasons"]
                )

            wait_for(degraded, what="/readyz to report the failed load")
            ready = httpx.get(f"{server.url}/readyz", headers=auth)
            marker = len(load.answers)
            wait_for(lambda: len(load.answers) >= marker + 20, what="traffic after the failed swap")
        # uvicorn re-raises the signal once shutdown is complete: -SIGTERM is the clean exit.
        assert server.terminate() in (0, -signal.SIGTERM)
    finally:
        server.kill()
        registry.aliases(champion=registry.plain)
    assert load.failures == []
    versions = load.versions_since(0)
    first_new = versions.index(registry.other)
    # Atomic swap: the old version before, the new one after, nothing in between.
    assert set(versions[:first_new]) == {registry.plain}
    assert set(versions[first_new:]) == {registry.other}
    assert ready.status_code == 200 and ready.json()["champion"] == registry.other
    assert "ModelIntegrityError" in " ".join(ready.json()["reasons"])
    text = (tmp_path / "server.log").read_text()
    assert "Application shutdown complete" in text and "Traceback" not in text, text
    log = read(settings.table_uri("bike_sharing", "predictions"))
    assert len(log) == len(load.answers) == len(set(log["request_id"]))
    assert set(log["route"]) == {"champion"}
    assert log["model_version"].value_counts().to_dict() == {
        v: versions.count(v) for v in (registry.plain, registry.other)
    }


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_hosts_are_recognised(host: str) -> None:
    from mlops_pipelines.serving.server import is_loopback

    assert is_loopback(host)
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_module_entry_point_needs_a_project() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mlops_pipelines.serving", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--project" in done.stderr
