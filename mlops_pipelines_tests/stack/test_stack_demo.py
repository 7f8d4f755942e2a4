"""`stack demo` for real: the small project replayed through a running stack, every run launched
through the webserver and executed on the Celery workers, and the retrains started by the
daemon's own ticks of the retraining sensor (its interval shortened for the test through
MLOPS_SENSOR_INTERVAL_SECONDS); the summary has the keys `demo --json` prints. A serving process
started against the stack before the replay picks up each new champion from the tracking server
without a restart, and the gate's decisions are on the tracking server's versions. Without a
stack, or with an unknown project, one error line names what to do."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from dagster._core.scheduler.instigation import InstigatorType

from mlops_pipelines import names
from mlops_pipelines.demo_events import new_summary
from mlops_pipelines.lib.registry.aliases import CHALLENGER, CHAMPION, get_alias
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.sensors import build_retrain_sensor
from mlops_pipelines.settings import SENSOR_INTERVAL_ENV, EnvironmentConfigError
from mlops_pipelines.spec import load_spec
from mlops_pipelines.stack import processes
from mlops_pipelines.stack.commands import QUEUES, worker_name
from mlops_pipelines.stack.demo import SENSOR_NAME_TAG
from mlops_pipelines_tests.production_env import closed_port
from mlops_pipelines_tests.stack.stack_support import (
    PACKAGED,
    PASSWORD,
    PROJECT,
    USERNAME,
    Stack,
    cli,
    parent_pid,
    running_stack,
    stack_env,
    step_pids,
)

SENSOR = names.scoped(PROJECT, names.RETRAIN_SENSOR)
TRAIN_STEPS = {names.scoped(PROJECT, names.MODEL), names.scoped(PROJECT, names.EVALUATION)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack_demo"), {SENSOR_INTERVAL_ENV: "5"}) as started:
        yield started


class ServingWatch:
    """`mlops-pipelines serve` with the stack's environment, and the (champion, challenger)
    versions its /v1/deployment reported loaded while the replay ran (polled every 0.5 s)."""

    def __init__(self, stack: Stack, log: Path) -> None:
        self.port = closed_port()
        env = stack.config.process_env(stack.env)
        command = [sys.executable, "-m", "mlops_pipelines.cli", "serve", "--project", PROJECT]
        command += ["--port", str(self.port), "--poll-seconds", "1"]
        self.log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.seen: list[tuple[str | None, str | None]] = []  # (champion, challenger) loaded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def deployment(self) -> dict[str, Any] | None:
        try:
            answer = requests.get(f"http://127.0.0.1:{self.port}/v1/deployment", timeout=5)
        except requests.ConnectionError:
            return None  # still starting
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            body = self.deployment()
            if body is None:
                continue
            models = body["models"]
            state = tuple((models[a] or {}).get("version") for a in ("champion", "challenger"))
            if not self.seen or self.seen[-1] != state:
                self.seen.append(state)

    @property
    def champions(self) -> list[str | None]:
        return list(dict.fromkeys(champion for champion, _ in self.seen))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def _decisions_on_the_tracking_server(tracking: TrackingConfig) -> dict[str, str]:
    """Challenger version -> verdict, from the `promotion_decision` / `rejection_decision` tags."""
    found: dict[str, str] = {}
    with open_client(tracking) as client:
        versions = client.search_model_versions(f"name='{PROJECT}'")
    for version in versions:
        for kind in ("promotion_decision", "rejection_decision"):
            if kind in version.tags:
                record = json.loads(version.tags[kind])
                found[str(record["challenger_version"])] = str(record["verdict"])
    return found


@pytest.mark.slow
def test_stack_demo_replays_the_project_with_the_daemon_ticking_the_retraining_sensor(stack: Stack) -> None:
    started = time.time()
    # Up to the day after the KPI breach of 2024-01-18: the sensor's retrain is due, and with the
    # retrain's as-of at the last block's end there is no tail to re-score (fewer runs on 2 cores).
    until = ("--until", "2024-01-19")
    serving = ServingWatch(stack, stack.config.logs_dir / "serving-test.log")
    try:
        done = cli(stack.env, "stack", "demo", "--project", PROJECT, *until, "--json", "--timeout", "600")
        summary = json.loads(done.stdout) if done.returncode == 0 else {}
        # The same process, never restarted, ends up serving the champion the replay left.
        # (A version the serving poll meets between the alias move and the step's materialization
        # is refused until that materialization is recorded, and loaded on a later poll.)
        deadline = time.monotonic() + (120 if summary else 0)
        while (
            serving.champions[-1:] != [str(summary.get("champion_version"))] and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert serving.process.poll() is None, "the serving process exited"
    finally:
        serving.stop()
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert set(summary) == {*new_summary(PROJECT), "seconds"}
    assert summary["partitions"] == 19 and summary["runs"] >= 6
    # The timeline and the block lines went to stderr: stdout is the one JSON object.
    assert "2024-01-01..2024-01-11" in done.stderr and "retrain as of" in done.stderr
    retrains = [r for r in summary["retrains"] if not r["reason"].startswith("bootstrap")]
    assert retrains, summary["retrains"]
    config = stack.config
    workers = {q: processes.read_pid(config.pids_dir, worker_name(q)) for q in QUEUES}
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        for retrain in retrains:
            run = instance.get_run_by_id(retrain["run_id"])
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            # Launched by the daemon's tick, under the sensor's run key, never by the demo.
            assert run.tags[SENSOR_NAME_TAG] == SENSOR and run.tags[names.RUN_KEY_TAG]
            assert run.tags[names.KIND_TAG] == names.KIND_RETRAIN
            # Its steps ran on the Celery workers: training on the `train` queue's worker.
            run_pid, steps = step_pids(instance, retrain["run_id"])
            assert set(steps) >= TRAIN_STEPS, steps
            for step, pid in steps.items():
                queue = names.TRAIN_QUEUE if step in TRAIN_STEPS else names.DEFAULT_QUEUE
                assert pid != run_pid and parent_pid(pid) == workers[queue], (step, pid, workers)
        # The first block ran as one partition-range run, as the embedded demo runs it.
        span = {names.RANGE_START_TAG: "2024-01-01", names.RANGE_END_TAG: "2024-01-11"}
        assert [r.status for r in instance.get_runs(dg.RunsFilter(tags=span))] == [
            dg.DagsterRunStatus.SUCCESS
        ]
        [state] = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.instigator_name == SENSOR
        ]
        assert state.is_running  # left as found: the sensor runs by default, and still does
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=started)
        assert any(t.run_ids for t in ticks)
    tracking = TrackingConfig(
        config.tracking_uri, None, "mlflow-artifacts:/mlops", username=USERNAME, password=PASSWORD
    )
    champion = get_alias(tracking, PROJECT, CHAMPION)
    assert champion is not None and summary["champion_version"] == champion.version
    # The serving process started before any model existed and loaded each champion (and the
    # challenger the gate left for shadow and canary) from the tracking server as the aliases
    # moved, in place.
    assert serving.champions[0] is None and serving.champions[-1] == champion.version, serving.seen
    challenger = get_alias(tracking, PROJECT, CHALLENGER)
    if challenger is not None:
        assert (champion.version, challenger.version) in serving.seen, serving.seen
    # Every decision of the replay is recorded on the tracking server's versions.
    recorded = _decisions_on_the_tracking_server(tracking)
    for decision in summary["decisions"]:
        assert recorded.get(str(decision["version"])) == decision["verdict"], (decision, recorded)


def test_stack_demo_without_a_running_stack_names_stack_up(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    done = cli(env, "stack", "demo", "--project", PROJECT)
    assert done.returncode == 1
    assert "stack up" in done.stderr and env["MLOPS_STACK_DIR"] in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_stack_demo_of_an_unknown_project_names_it(tmp_path: Path) -> None:
    done = cli(stack_env(tmp_path), "stack", "demo", "--project", "no_such_project")
    assert done.returncode == 1
    assert "unknown project 'no_such_project'" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_sensor_interval_is_read_when_the_definitions_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(PACKAGED / "demand_sim.yaml")
    monkeypatch.delenv(SENSOR_INTERVAL_ENV, raising=False)
    assert build_retrain_sensor(spec).minimum_interval_seconds == 60
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "5")
    assert build_retrain_sensor(spec).minimum_interval_seconds == 5
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "0")
    with pytest.raises(EnvironmentConfigError, match="MLOPS_SENSOR_INTERVAL_SECONDS='0'"):
        build_retrain_sensor(spec)
