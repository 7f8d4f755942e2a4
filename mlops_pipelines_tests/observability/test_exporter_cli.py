"""`mlops-pipelines exporter`'s start: which projects, and the errors that stop it before it serves
(an unknown project, a taken port). The command serving for real is in test_prometheus_dashboard.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlops_pipelines.cli import main
from mlops_pipelines.observability.collector import PipelineCollector
from mlops_pipelines.observability.server import ExporterError, select_projects, start_exporter
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.observability.scrape_support import FakeSource


def test_the_projects_are_every_project_or_those_named(specs: dict[str, ProjectSpec]) -> None:
    assert [s.name for s in select_projects(specs, None)] == sorted(specs)
    chosen = select_projects(specs, ["wine_quality", "bike_sharing", "wine_quality"])
    assert [s.name for s in chosen] == ["wine_quality", "bike_sharing"]


def test_an_unknown_project_stops_the_exporter_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "mlops"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mlops" / "dagster"))
    assert main(["exporter", "--project", "bike_sharing", "--project", "no_such_project"]) == 1
    error = capsys.readouterr().err
    assert "mlops-pipelines exporter: unknown project(s) ['no_such_project'] for --project" in error
    assert "bike_sharing" in error.split("known:")[1]


def test_a_taken_port_is_an_error_naming_the_address() -> None:
    collector = PipelineCollector(FakeSource("dagster"), FakeSource("mlflow"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ExporterError, match=f"cannot listen on 127.0.0.1:{port} \\(--host/--port\\)"):
            start_exporter(collector, "127.0.0.1", port)


def test_a_free_port_serves_the_metrics() -> None:
    import httpx

    collector = PipelineCollector(FakeSource("dagster"), FakeSource("mlflow"))
    server, thread = start_exporter(collector, "127.0.0.1", 0)
    try:
        body = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10.0).text
        assert 'mlops_exporter_up{source="dagster"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
