"""The Dagster source on a real instance: the events the pipeline writes (drift observations,
champion decisions, raw and validated materializations, check evaluations, retrain runs),
reported straight into the instance, read back as each project's state; and counted once.
The same state from real pipeline runs is read in test_prometheus_dashboard.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from mlops_pipelines import names
from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.observability.collector import PipelineCollector
from mlops_pipelines.observability.dagster_source import DagsterSource
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.observability.scrape_support import FakeSource, scrape, value

P = "bike_sharing"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def key(asset: str) -> dg.AssetKey:
    return dg.AssetKey([P, asset])


def materialize(instance: dg.DagsterInstance, asset: str, partition: str | None, **metadata: Any) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key(asset), partition=partition, metadata=metadata)
    )


def observe_drift(instance: dg.DagsterInstance, partition: str, status: str, share: float | None) -> None:
    metadata = {names.META_STATUS: status, names.META_DRIFT_SHARE: share}
    instance.report_runless_asset_event(
        dg.AssetObservation(key(names.DRIFT), partition=partition, metadata=metadata)
    )


def fail_check(instance: dg.DagsterInstance, asset: str, check: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=key(asset), check_name=check, passed=False)
    )


def retrain_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> None:
    instance.add_run(DagsterRun(job_name=names.scoped(P, names.RETRAIN_JOB), status=status))


def test_the_instance_reads_as_each_projects_state_and_counts_each_event_once(
    instance: dg.DagsterInstance, specs: dict[str, ProjectSpec]
) -> None:
    for partition in ("2011-01-25", "2011-01-26"):
        materialize(instance, names.RAW, partition)
    observe_drift(instance, "2011-01-25", "ok", 0.0)
    observe_drift(instance, "2011-01-26", "error", 0.5)
    observe_drift(instance, "2011-01-26", "warn", 0.25)  # a re-run: the newest verdict counts
    materialize(instance, names.CHAMPION, None, **{names.META_ACTION: "gate", names.META_VERDICT: "promote"})
    materialize(instance, names.CHAMPION, None, **{names.META_ACTION: "gate", names.META_VERDICT: "reject"})
    for partition in ("2011-01-25", "2011-01-26"):  # one range run's totals, copied to each partition
        materialize(
            instance, names.VALIDATED, partition,
            **{names.META_ROWS_QUARANTINED: 3, names.META_LAST_PARTITION: "2011-01-26"},
        )  # fmt: skip
    fail_check(instance, names.RAW, names.FRESHNESS_CHECK)
    retrain_run(instance, dg.DagsterRunStatus.SUCCESS)
    retrain_run(instance, dg.DagsterRunStatus.FAILURE)

    source = DagsterSource([specs[P]], instance)
    [state] = source.read()
    assert state.project == P
    assert [(d.partition, d.status, d.share, d.level) for d in state.drift] == [
        ("2011-01-26", "warn", 0.25, 1),
        ("2011-01-25", "ok", 0.0, 0),
    ]
    assert dict(state.retrains) == {"success": 1, "failure": 1}
    assert dict(state.decisions) == {"promote": 1, "reject": 1}
    assert state.newest_partition == "2011-01-26"
    assert state.newest_partition_end == 1296086400.0  # 2011-01-27T00:00Z: the end of 2011-01-26
    assert state.last_ingest is not None
    assert state.check_failures[(names.RAW, names.FRESHNESS_CHECK)] == 1
    assert state.check_failures[(names.VALIDATED, names.EXPECTATIONS_CHECK)] == 0
    assert state.quarantined_rows == 3

    # The next scrape folds in only what is new: nothing is counted twice.
    materialize(instance, names.CHAMPION, None, **{names.META_ACTION: "rollback"})
    fail_check(instance, names.RAW, names.FRESHNESS_CHECK)
    [state] = source.read()
    assert dict(state.decisions) == {"promote": 1, "reject": 1, "rollback": 1}
    assert state.check_failures[(names.RAW, names.FRESHNESS_CHECK)] == 2
    assert state.quarantined_rows == 3


def test_an_empty_instance_has_zero_counts_and_no_gauges_and_says_so_once(
    instance: dg.DagsterInstance, specs: dict[str, ProjectSpec], caplog: pytest.LogCaptureFixture
) -> None:
    source = DagsterSource([specs[P]], instance)
    with caplog.at_level(logging.WARNING):
        [state] = source.read()
        source.read()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"exporter: the Dagster instance at {source.setting()} holds no runs yet"
    ]
    assert state.drift == () and state.newest_partition is None and state.newest_partition_end is None
    assert dict(state.retrains) == {"success": 0, "failure": 0} and dict(state.decisions) == {}


def test_an_instance_that_cannot_be_opened_is_up_0_naming_dagster_home(
    specs: dict[str, ProjectSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = tmp_path / "no-such-home"
    monkeypatch.setenv("DAGSTER_HOME", str(missing))
    exporter = PipelineCollector(DagsterSource([specs[P]]), FakeSource("mlflow"))
    with caplog.at_level(logging.WARNING):
        samples = scrape(exporter)
    assert value(samples, m.UP, source="dagster") == 0.0
    assert value(samples, f"{m.RETRAINS}_total", project=P, status="success") is None  # not a silent 0
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"DAGSTER_HOME={missing}" in warning
