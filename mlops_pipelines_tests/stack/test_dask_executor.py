"""MLOPS_EXECUTOR=dask: the production environment's executor runs each step as a task on a real
Dask cluster (a `distributed.LocalCluster` with worker processes, started by the test), so the
steps run in the cluster's worker processes, not the run's; without MLOPS_DASK_SCHEDULER the run
fails naming the variable."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.resources.environment import DASK_SCHEDULER_VAR, EXECUTOR_VAR, environment_for
from mlops_pipelines_tests.production_env import use_production

pytestmark = pytest.mark.slow


@dg.asset
def step_pid() -> None:
    """Its STEP_START event records the process it ran in."""


@dg.asset(deps=[step_pid])
def next_step_pid() -> None:
    """Runs after `step_pid`, on whichever worker Dask picks."""


def production_job() -> dg.JobDefinition:
    """The job as the code location builds it: the executor is the environment's, read now."""
    job = dg.define_asset_job("dask_probe", executor_def=environment_for().executor)
    return dg.Definitions(assets=[step_pid, next_step_pid], jobs=[job]).resolve_job_def("dask_probe")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield str(cluster.scheduler_address)


def _instance(tmp_path: Path) -> dg.DagsterInstance:
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    return dg.DagsterInstance.local_temp(str(home))


def test_steps_run_as_tasks_on_the_dask_cluster(
    scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_production(monkeypatch, tmp_path)
    monkeypatch.setenv(EXECUTOR_VAR, "dask")
    monkeypatch.setenv(DASK_SCHEDULER_VAR, scheduler)
    from distributed import Client

    with Client(scheduler) as client:
        workers = set(client.run(os.getpid).values())  # each worker process's pid
    with (
        _instance(tmp_path) as instance,
        dg.execute_job(dg.reconstructable(production_job), instance, raise_on_error=False) as result,
    ):
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        starts = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
        pids = {e.step_key: e.dagster_event.pid for e in starts if e.dagster_event}
        assert set(pids) == {"step_pid", "next_step_pid"}, pids
        assert set(pids.values()) <= workers and os.getpid() not in pids.values(), (pids, workers)
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS


def test_without_a_scheduler_address_the_run_fails_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_production(monkeypatch, tmp_path)
    monkeypatch.setenv(EXECUTOR_VAR, "dask")
    monkeypatch.delenv(DASK_SCHEDULER_VAR, raising=False)
    with pytest.raises(Exception, match=DASK_SCHEDULER_VAR):
        dg.execute_job(dg.reconstructable(production_job), _instance(tmp_path))
