"""The shipped monitoring files, checked offline: the scrape configuration with Debian's promtool,
and every metric a dashboard panel queries against the metrics that exist (the exporter's and the
service's), so a renamed metric fails here and not on a blank panel. That each query returns
data from live processes is test_prometheus_dashboard.py's job."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.observability.collector import PipelineCollector
from mlops_pipelines.serving.metrics import ServingMetrics
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.observability.prometheus_support import (
    PROMTOOL,
    REPO_ROOT,
    SCRAPE_CONFIG,
    dashboard,
    panel_queries,
    require,
)
from mlops_pipelines_tests.observability.scrape_support import FakeSource, scrape
from mlops_pipelines_tests.observability.test_collector import PIPELINE, REGISTRY

METRIC = re.compile(r"\bmlops_[a-zA-Z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require(PROMTOOL)), "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_scrape_configuration_passes_promtool() -> None:
    checked = promtool_check(SCRAPE_CONFIG)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_refuses_a_broken_scrape_configuration(tmp_path: Path) -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    config["scrape_configs"][0]["scrape_timeout"] = "1 minute"
    broken = tmp_path / "prometheus.yml"
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = promtool_check(broken)
    assert checked.returncode != 0 and "1 minute" in checked.stdout + checked.stderr


def known_metrics(specs: dict[str, ProjectSpec]) -> set[str]:
    """Every series name the exporter (for a full snapshot) and the service can expose."""
    exporter = PipelineCollector(FakeSource("dagster", [PIPELINE]), FakeSource("mlflow", [REGISTRY]))
    names = {name for name, _ in scrape(exporter)}
    for family in ServingMetrics(specs["bike_sharing"]).registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def unknown_metrics(queries: list[tuple[str, str]], known: set[str]) -> list[str]:
    return [
        f"{title}: {name}" for title, expr in queries for name in METRIC.findall(expr) if name not in known
    ]


def test_every_dashboard_query_names_metrics_that_exist(specs: dict[str, ProjectSpec]) -> None:
    queries = panel_queries(dashboard())
    assert unknown_metrics(queries, known_metrics(specs)) == []
    assert "mlops_serving_request_latency_seconds_bucket" in {
        n for _, e in queries for n in METRIC.findall(e)
    }


def test_a_misspelt_metric_in_a_query_is_found(specs: dict[str, ProjectSpec]) -> None:
    planted = [("Drift", 'max(mlops_pipeline_drift_shares{project=~"$project"})')]
    assert unknown_metrics(planted, known_metrics(specs)) == ["Drift: mlops_pipeline_drift_shares"]


def test_the_readme_lists_every_exporter_metric() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    exported = {v for k, v in vars(m).items() if k.isupper() and v.startswith("mlops_")}
    assert sorted(name for name in exported if name not in section) == []


def test_the_prometheus_tools_that_are_installed_are_found() -> None:
    assert require(PROMTOOL) == PROMTOOL


def test_missing_prometheus_fails_the_test_naming_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run \./dev prometheus-setup"):
        require(tmp_path / "prometheus")


def dashboard_problems(board: dict[str, Any]) -> list[str]:
    """What would make Grafana import the dashboard wrongly: duplicate panel ids, panels past the
    24-column grid, targets without a refId or off the dashboard's data source variable."""
    problems, ids = [], set()
    for panel in board["panels"]:
        title, grid = panel["title"], panel["gridPos"]
        if panel["id"] in ids:
            problems.append(f"{title}: duplicate id {panel['id']}")
        ids.add(panel["id"])
        if grid["x"] + grid["w"] > 24:
            problems.append(f"{title}: wider than the grid")
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if None in refs or len(set(refs)) != len(refs):
            problems.append(f"{title}: refIds {refs}")
        sources = {str(t.get("datasource", {}).get("uid")) for t in panel.get("targets", [])}
        if sources - {"${datasource}"}:
            problems.append(f"{title}: data source {sorted(sources)}")
    variables = {v["name"] for v in board["templating"]["list"]}
    return problems + ([] if {"datasource", "project"} <= variables else [f"variables {sorted(variables)}"])


def test_the_dashboard_imports_cleanly() -> None:
    assert dashboard_problems(dashboard()) == []


def test_a_dashboard_with_clashing_ids_is_found() -> None:
    board = dashboard()
    latency, throughput = board["panels"][1], board["panels"][2]
    throughput["id"] = latency["id"]
    latency["targets"][0]["refId"] = latency["targets"][1]["refId"]
    assert dashboard_problems(board) == [
        f"{latency['title']}: refIds ['B', 'B']",
        f"{throughput['title']}: duplicate id {latency['id']}",
    ]
