"""A real Prometheus (Debian's package) for the monitoring tests: its scrape configuration built
from deploy/prometheus/prometheus.yml, its HTTP API, and the dashboard's PromQL expressions."""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
SCRAPE_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "mlops_pipelines.json"
EXPORTER_JOB, SERVING_JOB = "mlops_pipelines_exporter", "mlops_serving"
# What Grafana puts in for its own variables when it runs a panel's query; the project variable
# is the test's project. A window of many 1 s scrapes, so every rate() has samples to work with.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s"}


def require(binary: Path) -> Path:
    """Debian's prometheus tools; missing is a failure (CI installs them), never a skip."""
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run ./dev prometheus-setup (as root; Debian's prometheus package)")
    return binary


def scrape_config(targets: Mapping[str, str], interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with each job's target replaced and a faster interval."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(targets), f"the shipped scrape config has jobs {sorted(jobs)}"
    for name, target in targets.items():
        job = jobs[name]
        job.pop("scrape_timeout", None)  # must not exceed the 1 s interval
        for static in job["static_configs"]:
            static["targets"] = [target]
    return config


def panel_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, rows' nested panels included."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                found.append((panel["title"], target["expr"]))

    walk(dashboard["panels"])
    return found


def promql(expr: str, project: str) -> str:
    """A panel's expression as Grafana sends it for one project."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    expr = expr.replace("$project", re.escape(project))
    assert "$" not in expr, f"an unknown Grafana variable is left in {expr!r}"
    return expr


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {response.status_code} {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, expr: str) -> list[float]:
        return [float(sample["value"][1]) for sample in self.query(expr)]

    def targets_up(self) -> dict[str, str]:
        """Each scraped job's health (up, down, unknown) and last error."""
        active = self.api("targets")["activeTargets"]
        return {t["labels"]["job"]: f"{t['health']} {t.get('lastError', '')}".strip() for t in active}

    def wait_until(self, check: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()[-3000:]}")
            if check():
                return
            time.sleep(0.5)
        raise TimeoutError(f"waited {timeout} s for {what}; targets: {self.targets_up()}")


def finite(values: list[float]) -> bool:
    return any(math.isfinite(v) for v in values)


@contextmanager
def prometheus(config: dict[str, Any], directory: Path, port: int) -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1:port with `config`, its data in `directory`; stopped by PID."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = directory / "prometheus.log"
    command = [
        str(require(PROMETHEUS)),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with log_path.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    try:
        server.wait_until(lambda: _ready(server.url), "prometheus to be ready")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
