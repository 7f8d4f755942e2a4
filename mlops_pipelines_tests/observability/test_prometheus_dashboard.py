"""Debian's prometheus scrapes the exporter and a model service, and every PromQL expression of
every panel of deploy/grafana/mlops_pipelines.json returns data.

The pipeline state is real and small: the data and retrain jobs on 24 days of bike_sharing
(version 1 evaluated and promoted, its refit version 2 the champion), then the daily job on two
more days (predictions and drift). Version 1 is made the challenger, so the service routes a
canary share to it and scores it in shadow. The exporter and the service are processes started
by the test, found by Prometheus through deploy/prometheus/prometheus.yml (targets and interval
replaced); the queries go through Prometheus' HTTP API, as Grafana sends them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import httpx
import pytest

from mlops_pipelines import names
from mlops_pipelines.cli import INSTANCE_CONFIG
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.runner import run_job
from mlops_pipelines.settings import load_settings
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.monitoring_job import NEXT, prepared, small
from mlops_pipelines_tests.observability.prometheus_support import (
    EXPORTER_JOB,
    PROMETHEUS,
    SERVING_JOB,
    dashboard,
    finite,
    panel_queries,
    prometheus,
    promql,
    require,
    scrape_config,
)
from mlops_pipelines_tests.serving.serving_support import (
    REPO_ROOT,
    bike_frame,
    free_port,
    request_rows,
    set_alias,
    start_server,
)

WAVE = 12  # predict requests per wave; two waves, so every rate() sees the series grow
ANSWERED = 'sum(mlops_serving_requests_total{status="200"})'


@contextmanager
def exporter_process(home: Path, project: str, log_path: Path) -> Iterator[int]:
    """`mlops-pipelines exporter` as a process on a free port (yielded); SIGTERM must stop it cleanly."""
    port = free_port()
    env = {**os.environ, "MLOPS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    command = [sys.executable, "-m", "mlops_pipelines.cli", "exporter", "--port", str(port)]
    command += ["--project", project, "--cache-seconds", "2"]
    with log_path.open("wb") as sink:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield port
    finally:
        process.terminate()
        code = process.wait(30)
    assert code == 0, log_path.read_text()


@pytest.mark.slow
def test_prometheus_scrapes_exporter_and_service_and_every_dashboard_query_returns_data(
    specs: dict[str, ProjectSpec], shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require(PROMETHEUS)  # before minutes of pipeline runs
    home = tmp_path / "mlops"
    (home / "dagster").mkdir(parents=True)
    # The CLI's own instance configuration: the exporter process reads what these runs write.
    (home / "dagster" / "dagster.yaml").write_text(INSTANCE_CONFIG, encoding="utf-8")
    for variable, value in (
        ("MLOPS_HOME", home),
        ("DAGSTER_HOME", home / "dagster"),
        ("MLOPS_DATA_DIR", shared_data_dir),
    ):
        monkeypatch.setenv(variable, str(value))
    spec = small(specs["bike_sharing"])
    settings = load_settings({"MLOPS_HOME": str(home)})
    # The instance's SQLite tables are created here, before the exporter process opens the same
    # instance: two processes creating them at once race ("table ... already exists").
    dg.DagsterInstance.get().dispose()
    started = time.monotonic()
    with ExitStack() as stack:
        # The exporter and the service start first: their imports (a minute on a busy machine)
        # overlap the pipeline runs, and they pick up the stores and the champion as they appear.
        exporter_port = stack.enter_context(exporter_process(home, spec.name, tmp_path / "exporter.log"))
        with open_client(settings.tracking_config()) as client:
            client.search_experiments()  # the store the runs will use, created before the service polls it
        server = start_server(
            settings, spec.name, tmp_path / "server.log", None,
            "--canary-share", "0.5", "--shadow", "--poll-seconds", "0.5",
        )  # fmt: skip
        stack.callback(server.terminate)
        with dg.DagsterInstance.get() as instance:
            prepared(spec, instance, champion=True)
            champion = get_alias(settings.tracking_config(), spec.name, CHAMPION)
            assert champion is not None
            set_alias(settings, spec.name, "challenger", champion.tags[names.ML_REFIT_OF])
            targets = {EXPORTER_JOB: f"127.0.0.1:{exporter_port}", SERVING_JOB: f"127.0.0.1:{server.port}"}
            prom = stack.enter_context(
                prometheus(scrape_config(targets), tmp_path / "prometheus", free_port())
            )
            prepared_at = time.monotonic()
            # The drift report's HTML is not what this test is about (the demo skips it the same way).
            no_report = {"ops": {names.scoped(spec.name, names.DRIFT): {"config": {"report": "never"}}}}
            defs = build_definitions({spec.name: spec})
            daily = run_job(
                defs, names.scoped(spec.name, names.DAILY_JOB), instance, *NEXT, run_config=no_report
            )
            assert daily.success
        server.wait_ready()
        prom.wait_until(lambda: set(prom.targets_up().values()) == {"up"}, "both targets up")
        latest_drift = f'{m.DRIFT_LATEST}_info{{partition="{NEXT[-1]}"}}'
        prom.wait_until(lambda: len(prom.query(latest_drift)) == 1, "the exporter to show the daily run")
        rows = request_rows(bike_frame(shared_data_dir, spec).iloc[9000 : 9000 + 2 * WAVE], spec)
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            for wave in (1, 2):
                for row in rows[(wave - 1) * WAVE : wave * WAVE]:
                    assert client.post("/v1/predict", json={"row": row}).status_code == 200
                assert client.post("/v1/predict", json={"row": {"hr": "noon"}}).status_code == 422
                prom.wait_until(lambda w=wave: prom.values(ANSWERED) == [w * WAVE], f"wave {wave} scraped")
        served_at = time.monotonic()

        assert prom.values(m.CHAMPION_VERSION) == [float(champion.version)]
        assert prom.values(f"{m.PROMOTIONS}_total") == [1.0]
        assert prom.values(f'{m.RETRAINS}_total{{status="success"}}') == [1.0]
        [latest] = prom.query(f"{m.DRIFT_LATEST}_info")
        assert latest["metric"]["partition"] == NEXT[-1]
        aliases = {s["metric"]["alias"] for s in prom.query(f"{m.MODEL_ALIAS}_info")}
        assert {"champion", "challenger"} <= aliases

        queries = panel_queries(dashboard())
        assert len(queries) >= 20, queries
        empty = []
        for title, expr in queries:
            values = prom.values(promql(expr, spec.name))
            if not finite(values):
                empty.append(f"{title}: {expr} -> {values}")
        assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
        print(
            f"pipeline state {prepared_at - started:.0f} s, daily run and serving "
            f"{served_at - prepared_at:.0f} s, queries {time.monotonic() - served_at:.0f} s"
        )
