"""The deployed stack for real: `stack up` on a private state directory and unique databases, a
data run and a retrain run launched through the webserver's GraphQL (queued, dequeued by the
daemon), every step executed on a Celery worker, recorded on the PostgreSQL instance and the
tracking server (basic auth); `stack down` leaves nothing running."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests
from dagster_graphql import DagsterGraphQLClient

from mlops_pipelines import names
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias
from mlops_pipelines.lib.registry.session import TrackingConfig, TrackingRejected, open_client
from mlops_pipelines.stack import processes
from mlops_pipelines.stack.commands import CODE_SERVER, QUEUES, process_specs, worker_name
from mlops_pipelines.stack.config import StackConfig
from mlops_pipelines.stack.files import LOCATION_NAME
from mlops_pipelines_tests.stack.stack_support import (
    PASSWORD,
    PROJECT,
    USERNAME,
    Stack,
    cli,
    parent_pid,
    start_stack,
    step_pids,
    wait_for_run,
)

pytestmark = pytest.mark.slow

TRAIN_STEPS = {names.scoped(PROJECT, names.MODEL), names.scoped(PROJECT, names.EVALUATION)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    started = start_stack(root)
    pids = [processes.read_pid(started.config.pids_dir, s.name) for s in process_specs(started.config)]
    try:
        yield started
    finally:
        down = cli(started.env, "stack", "down", "--drop")
        assert down.returncode == 0, down.stderr
        # Nothing left: no recorded process, and none of their process groups.
        left = [pid for pid in pids if pid is not None and processes.is_alive(pid)]
        assert left == [], f"still running after stack down: {left}"
        assert not list(started.config.pids_dir.glob("*.pid"))


def _tracking(stack: Stack, password: str = PASSWORD) -> TrackingConfig:
    return TrackingConfig(
        stack.config.tracking_uri, None, "mlflow-artifacts:/mlops", username=USERNAME, password=password
    )


def _launch(stack: Stack, job: str, tags: dict[str, str]) -> str:
    client = DagsterGraphQLClient(stack.config.host, port_number=stack.config.webserver_port)
    return client.submit_job_execution(
        names.scoped(PROJECT, job), repository_location_name=LOCATION_NAME, tags=tags
    )


def test_status_names_every_process_running_with_its_url(stack: Stack) -> None:
    status = cli(stack.env, "stack", "status")
    assert status.returncode == 0, status.stderr
    for spec in process_specs(stack.config):
        assert f"{spec.name}" in status.stdout
    assert status.stdout.count("running (pid") == len(process_specs(stack.config))
    assert stack.config.webserver_url in status.stdout and stack.config.tracking_uri in status.stdout


def test_the_tracking_server_answers_401_without_credentials_and_names_them_when_rejected(
    stack: Stack,
) -> None:
    url = f"{stack.config.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, auth=(USERNAME, PASSWORD), timeout=30).status_code == 200
    with pytest.raises(TrackingRejected, match="MLFLOW_TRACKING_PASSWORD"):  # noqa: SIM117
        with open_client(_tracking(stack, password="not-the-password-1")) as client:
            client.search_experiments(max_results=1)


def test_runs_launched_through_the_webserver_execute_their_steps_on_celery_workers(stack: Stack) -> None:
    config = stack.config
    workers = {q: processes.read_pid(config.pids_dir, worker_name(q)) for q in QUEUES}
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        data = _launch(
            stack, names.DATA_JOB, {names.RANGE_START_TAG: "2024-01-01", names.RANGE_END_TAG: "2024-01-20"}
        )
        assert wait_for_run(instance, data).status == dg.DagsterRunStatus.SUCCESS
        retrain = _launch(stack, names.RETRAIN_JOB, {names.KIND_TAG: names.KIND_BOOTSTRAP})
        run = wait_for_run(instance, retrain)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        # The serial tag limit applies to this run: the retrain job carries it.
        assert run.tags[names.SERIAL_TAG] == names.scoped(PROJECT, names.SERIAL_MODEL_SUFFIX)
        for run_id in (data, retrain):
            run_pid, steps = step_pids(instance, run_id)
            assert steps, f"run {run_id} recorded no step"
            for step, pid in steps.items():
                queue = names.TRAIN_QUEUE if step in TRAIN_STEPS else names.DEFAULT_QUEUE
                assert pid != run_pid, f"{step} ran in the run's own process"
                assert parent_pid(pid) == workers[queue], f"{step} did not run on the {queue!r} worker"
        assert set(step_pids(instance, retrain)[1]) >= TRAIN_STEPS
    # Recorded on the tracking server, read with the project's own credentials.
    champion = get_alias(_tracking(stack), PROJECT, CHAMPION)
    assert champion is not None and int(champion.version) >= 1


def test_the_instance_lives_on_postgres_with_the_promotion_pool_limited_to_one(stack: Stack) -> None:
    text = (stack.config.dagster_home / "dagster.yaml").read_text(encoding="utf-8")
    assert "postgres_url" in text and stack.config.dagster_db in text and "QueuedRunCoordinator" in text
    with dg.DagsterInstance.from_config(str(stack.config.dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        info = instance.event_log_storage.get_concurrency_info(names.PROMOTION_POOL)
        assert info.slot_count == 1


def test_up_twice_starts_nothing_new(stack: Stack, tmp_path: Path) -> None:
    before = {s.name: processes.read_pid(stack.config.pids_dir, s.name) for s in process_specs(stack.config)}
    again = cli(stack.env, "stack", "up")
    assert again.returncode == 0, again.stderr
    after = {s.name: processes.read_pid(stack.config.pids_dir, s.name) for s in process_specs(stack.config)}
    assert after == before


def _running_mlflow_runs(stack: Stack) -> list[str]:
    with open_client(_tracking(stack)) as client:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    return [run.info.run_id for run in runs]


def test_case_11_a_train_worker_killed_mid_training_fails_the_run_and_the_next_retrain_cleans_up(
    stack: Stack,
) -> None:
    """kill -9 of the `train` worker (its whole process group, as a host dying) while the model
    step runs: Celery acknowledged the task on receipt, so nothing redelivers it; run monitoring
    fails the run past its `dagster/max_runtime` (60 s here). With the worker back (`stack up`),
    the next retrain ends the MLflow run the dead step left RUNNING and succeeds; the dead step
    registered nothing."""
    config = stack.config
    model_step = names.scoped(PROJECT, names.MODEL)
    with (
        dg.DagsterInstance.from_config(str(config.dagster_home)) as instance,
        open_client(_tracking(stack)) as client,
    ):
        before = {v.version for v in client.search_model_versions(f"name='{PROJECT}'")}
        doomed = _launch(
            stack, names.RETRAIN_JOB, {names.KIND_TAG: names.KIND_BOOTSTRAP, names.MAX_RUNTIME_TAG: "60"}
        )
        deadline = time.monotonic() + 600
        while not any(
            e.step_key == model_step
            for e in instance.all_logs(doomed, of_type=dg.DagsterEventType.STEP_START)
        ):
            assert time.monotonic() < deadline, "the model step never started"
            time.sleep(0.5)
        worker = processes.read_pid(config.pids_dir, worker_name(names.TRAIN_QUEUE))
        assert worker is not None
        os.killpg(worker, signal.SIGKILL)
        failed = wait_for_run(instance, doomed)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        messages = [e.message for e in instance.all_logs(doomed) if e.message]
        assert any("maximum runtime of 60 seconds" in m for m in messages), messages[-5:]
        # The dead step registered nothing.
        assert {v.version for v in client.search_model_versions(f"name='{PROJECT}'")} == before

        again = cli(stack.env, "stack", "up")
        assert again.returncode == 0, again.stderr
        assert processes.read_pid(config.pids_dir, worker_name(names.TRAIN_QUEUE)) not in (None, worker)
        retry = _launch(stack, names.RETRAIN_JOB, {names.KIND_TAG: names.KIND_BOOTSTRAP})
        assert wait_for_run(instance, retry).status == dg.DagsterRunStatus.SUCCESS
    assert _running_mlflow_runs(stack) == []


def test_a_run_queued_while_the_daemon_is_dead_runs_once_after_it_is_back(stack: Stack) -> None:
    """kill -9 of the daemon (fault cases 1-3: what a tick in flight relies on): nothing queued is
    lost. A run launched through the webserver meanwhile waits QUEUED; `stack up` starts a new
    daemon, which dequeues it exactly once and it succeeds."""
    config = stack.config
    daemon = _kill_daemon(config)
    span = {names.RANGE_START_TAG: "2024-01-21", names.RANGE_END_TAG: "2024-01-22"}
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        queued = _launch(stack, names.DATA_JOB, span)
        time.sleep(10)  # several of the dead daemon's dequeue intervals
        run = instance.get_run_by_id(queued)
        assert run is not None and run.status == dg.DagsterRunStatus.QUEUED
        again = cli(stack.env, "stack", "up")
        assert again.returncode == 0, again.stderr
        assert processes.read_pid(config.pids_dir, "daemon") not in (None, daemon)
        assert wait_for_run(instance, queued).status == dg.DagsterRunStatus.SUCCESS
        assert len(instance.all_logs(queued, of_type=dg.DagsterEventType.RUN_START)) == 1
        assert [r.run_id for r in instance.get_runs(dg.RunsFilter(tags=span))] == [queued]


def _kill_daemon(config: StackConfig) -> int:
    daemon = processes.read_pid(config.pids_dir, "daemon")
    assert daemon is not None
    os.killpg(daemon, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while processes.is_alive(daemon):
        assert time.monotonic() < deadline, "the daemon outlived kill -9"
        time.sleep(0.2)
    return daemon


def test_a_run_in_flight_when_the_daemon_is_killed_finishes_without_it(stack: Stack) -> None:
    """kill -9 of the daemon's process group while a run it launched is executing: the run worker
    is the code server's child, not the daemon's, so the run goes on and succeeds once, with no
    daemon running; `stack up` then starts a new daemon and nothing runs twice."""
    config = stack.config
    code_server = processes.read_pid(config.pids_dir, CODE_SERVER)
    span = {names.RANGE_START_TAG: "2024-01-10", names.RANGE_END_TAG: "2024-01-23"}
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        run_id = _launch(stack, names.DATA_JOB, span)
        deadline = time.monotonic() + 180
        while not instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START):
            assert time.monotonic() < deadline, "the run started no step"
            time.sleep(0.1)
        run_pid, _ = step_pids(instance, run_id)
        daemon = _kill_daemon(config)
        assert processes.is_alive(run_pid), "the run worker died with the daemon"
        ancestors: list[int] = []
        pid = parent_pid(run_pid)
        while pid is not None and pid > 1:
            ancestors.append(pid)
            pid = parent_pid(pid)
        assert code_server in ancestors and daemon not in ancestors, ancestors
        finished = wait_for_run(instance, run_id)
        failures = [
            e.dagster_event.event_specific_data.error.to_string()[-3000:]
            for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.is_step_failure
        ]
        assert finished.status == dg.DagsterRunStatus.SUCCESS, failures
        assert processes.read_pid(config.pids_dir, "daemon") is None  # it finished without one
        again = cli(stack.env, "stack", "up")
        assert again.returncode == 0, again.stderr
        assert len(instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)) == 1
        assert [r.run_id for r in instance.get_runs(dg.RunsFilter(tags=span))] == [run_id]
