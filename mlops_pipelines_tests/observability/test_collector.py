"""The collector and its metric families, from snapshots built here: values, the cache, and a
source that is down (up 0, a log line naming its setting, none of its metrics)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.observability.collector import PipelineCollector
from mlops_pipelines.observability.state import PartitionDrift, PipelineState, RegistryState
from mlops_pipelines_tests.observability.scrape_support import FakeSource, named, scrape, value

NOW = 1_800_000_000.0


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


PIPELINE = PipelineState(
    project="bike_sharing",
    drift=(
        PartitionDrift("2011-01-26", "warn", 0.25, 1),
        PartitionDrift("2011-01-25", "insufficient_data", None, 0),
    ),
    retrains={"success": 3, "failure": 1},
    decisions={"promote": 2, "reject": 1, "insufficient_evidence": 1, "rollback": 1},
    newest_partition="2011-01-26",
    newest_partition_end=NOW - 3600.0,
    last_ingest=NOW - 60.0,
    check_failures={("raw", "freshness"): 2, ("validated", "expectations"): 0},
    quarantined_rows=7,
)
REGISTRY = RegistryState("bike_sharing", {"champion": "4", "previous-champion": "2", "challenger": "5"})


def collector(
    pipelines: FakeSource, registry: FakeSource, clock: list[float] | None = None
) -> PipelineCollector:
    """A collector on a test clock: `clock[0]` seconds after NOW (a 5 s cache, 0.2 s wait for a read)."""
    ticks = clock if clock is not None else [0.0]
    return PipelineCollector(
        pipelines,
        registry,
        cache_seconds=5.0,
        clock=lambda: ticks[0],
        wall=lambda: NOW + ticks[0],
        wait_seconds=0.2,
    )


def test_a_snapshot_becomes_the_documented_metrics() -> None:
    samples = scrape(collector(FakeSource("dagster", [PIPELINE]), FakeSource("mlflow", [REGISTRY])))
    p = {"project": "bike_sharing"}
    assert value(samples, m.UP, source="dagster") == 1.0 and value(samples, m.UP, source="mlflow") == 1.0
    assert value(samples, m.CHAMPION_VERSION, **p) == 4.0
    assert named(samples, f"{m.MODEL_ALIAS}_info") == {
        frozenset({**p, "alias": alias, "version": version}.items()): 1.0
        for alias, version in (("champion", "4"), ("previous-champion", "2"), ("challenger", "5"))
    }
    assert value(samples, m.DRIFT_SHARE, **p) == 0.25 and value(samples, m.DRIFT_LEVEL, **p) == 1.0
    assert value(samples, f"{m.DRIFT_LATEST}_info", **p, partition="2011-01-26", status="warn") == 1.0
    # A partition without a verdict has a level (0) but no share: never a made-up 0.0.
    assert value(samples, m.PARTITION_DRIFT_LEVEL, **p, partition="2011-01-25") == 0.0
    assert value(samples, m.PARTITION_DRIFT_SHARE, **p, partition="2011-01-25") is None
    assert value(samples, m.PARTITION_DRIFT_SHARE, **p, partition="2011-01-26") == 0.25
    assert value(samples, f"{m.RETRAINS}_total", **p, status="success") == 3.0
    assert value(samples, f"{m.RETRAINS}_total", **p, status="failure") == 1.0
    assert value(samples, f"{m.PROMOTIONS}_total", **p) == 2.0
    assert value(samples, f"{m.REJECTIONS}_total", **p) == 1.0
    assert value(samples, f"{m.ROLLBACKS}_total", **p) == 1.0
    assert value(samples, f"{m.GATE_DECISIONS}_total", **p, verdict="insufficient_evidence") == 1.0
    assert value(samples, f"{m.GATE_DECISIONS}_total", **p, verdict="rollback") is None
    assert value(samples, m.FRESHNESS, **p) == 3600.0
    assert value(samples, m.NEWEST_PARTITION_END, **p) == NOW - 3600.0
    assert value(samples, m.LAST_INGEST, **p) == NOW - 60.0
    assert value(samples, f"{m.CHECK_FAILURES}_total", **p, asset="raw", check="freshness") == 2.0
    assert value(samples, f"{m.CHECK_FAILURES}_total", **p, asset="validated", check="expectations") == 0.0
    assert value(samples, f"{m.QUARANTINED_ROWS}_total", **p) == 7.0


def test_a_source_that_is_down_is_up_0_with_its_setting_logged_and_none_of_its_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = FakeSource("dagster", error=OSError("no such directory"), where="DAGSTER_HOME=/nowhere")
    clock = [0.0]
    exporter = collector(down, FakeSource("mlflow", [REGISTRY]), clock)
    with caplog.at_level(logging.WARNING):
        samples = scrape(exporter)
        clock[0] += 10.0
        scrape(exporter)  # down again: no second log line for the same error
    assert value(samples, m.UP, source="dagster") == 0.0
    assert value(samples, m.UP, source="mlflow") == 1.0 and value(
        samples, m.CHAMPION_VERSION, project="bike_sharing"
    )
    pipeline_names = {n for n, _ in samples if n.startswith("mlops_pipeline_") and "alias" not in n}
    assert pipeline_names == {m.CHAMPION_VERSION}, (
        "no pipeline metric (not even a zero) from a source that is down"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warnings) == 1 and "DAGSTER_HOME=/nowhere" in warnings[0] and "no such directory" in warnings[0]
    )

    down.error = None
    down.records = [PIPELINE]
    clock[0] += 10.0
    with caplog.at_level(logging.INFO):
        assert value(scrape(exporter), m.UP, source="dagster") == 1.0
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_a_scrape_storm_reads_the_stores_once_per_cache_period() -> None:
    pipelines, registry = FakeSource("dagster", [PIPELINE]), FakeSource("mlflow", [REGISTRY])
    clock = [0.0]
    exporter = collector(pipelines, registry, clock)
    threads = [threading.Thread(target=scrape, args=(exporter,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (pipelines.reads, registry.reads) == (1, 1)
    clock[0] += 4.9
    scrape(exporter)
    assert pipelines.reads == 1
    clock[0] += 0.2  # past the cache period: the next scrape reads again
    scrape(exporter)
    assert (pipelines.reads, registry.reads) == (2, 2)


def test_a_slow_read_answers_with_the_previous_snapshot_and_its_age() -> None:
    pipelines = FakeSource("dagster", [PIPELINE])
    clock = [0.0]
    exporter = collector(pipelines, FakeSource("mlflow", [REGISTRY]), clock)
    assert value(scrape(exporter), m.SNAPSHOT_AGE) == 0.0
    pipelines.hold = threading.Event()  # the instance is busy: the next read takes long
    pipelines.records = [replace(PIPELINE, quarantined_rows=8)]
    clock[0] += 30.0
    samples = scrape(exporter)  # waits 0.2 s, then answers with what it has
    assert value(samples, m.SNAPSHOT_AGE) == 30.0
    assert value(samples, f"{m.QUARANTINED_ROWS}_total", project="bike_sharing") == 7.0
    pipelines.hold.set()
    wait_until(lambda: exporter.snapshot().pipelines[0].quarantined_rows == 8)
    assert pipelines.reads == 2  # the scrapes meanwhile started no read of their own


def test_a_read_that_does_not_finish_reports_its_source_down(caplog: pytest.LogCaptureFixture) -> None:
    pipelines = FakeSource("dagster", [PIPELINE], where="DAGSTER_HOME=/srv/dagster")
    clock = [0.0]
    exporter = collector(pipelines, FakeSource("mlflow", [REGISTRY]), clock)
    scrape(exporter)
    pipelines.hold = threading.Event()  # the instance stops answering (a firewalled database host)
    clock[0] = 10.0
    assert value(scrape(exporter), m.UP, source="dagster") == 1.0  # 0 s into the read: the last reading
    clock[0] = 45.0  # 35 s into the read, past the 30 s the collector waits for a store
    with caplog.at_level(logging.WARNING):
        samples = scrape(exporter)
        scrape(exporter)
    assert value(samples, m.UP, source="dagster") == 0.0 and value(samples, m.UP, source="mlflow") == 1.0
    assert value(samples, f"{m.RETRAINS}_total", project="bike_sharing", status="success") is None
    assert value(samples, m.CHAMPION_VERSION, project="bike_sharing") == 4.0
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "dagster has not answered for 35 s (DAGSTER_HOME=/srv/dagster)" in warning
    pipelines.hold.set()
    wait_until(lambda: value(scrape(exporter), m.UP, source="dagster") == 1.0)
