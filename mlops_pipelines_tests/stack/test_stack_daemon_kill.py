"""Fault case 1 on the real stack: the daemon killed (kill -9 of its process group) within 50 ms
of its retraining sensor's tick creating a retrain run, during `stack demo`; `stack up` starts a
new daemon and the replay goes on with exactly one run per run key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.settings import SENSOR_INTERVAL_ENV
from mlops_pipelines.stack import processes
from mlops_pipelines.stack.demo import SENSOR_NAME_TAG
from mlops_pipelines_tests.stack.stack_support import PROJECT, Stack, cli, running_stack

pytestmark = pytest.mark.slow

KILLED_SENSOR = names.scoped(PROJECT, names.RETRAIN_SENSOR)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack_daemon_kill"), {SENSOR_INTERVAL_ENV: "5"}) as started:
        yield started


def _kill_the_daemon_once_the_sensor_created_a_run(stack: Stack, deadline: float) -> tuple[int, str]:
    """Poll the instance every 50 ms; at the first run the killed project's sensor created,
    kill -9 the daemon's process group. (daemon pid, that run's id)"""
    config = stack.config
    daemon = processes.read_pid(config.pids_dir, "daemon")
    assert daemon is not None
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        while True:
            runs = instance.get_runs(dg.RunsFilter(tags={SENSOR_NAME_TAG: KILLED_SENSOR}), limit=1)
            if runs:
                os.killpg(daemon, signal.SIGKILL)
                return daemon, runs[0].run_id
            assert time.monotonic() < deadline, "the sensor created no run"
            time.sleep(0.05)


def test_case_1_the_daemon_killed_right_after_the_sensor_created_a_retrain_leaves_exactly_one(
    stack: Stack,
) -> None:
    """kill -9 of the daemon within 50 ms of its sensor tick creating a retrain run, then `stack
    up`: the new daemon's ticks see the retrain (the run key is taken, and the policy sees it
    queued or running), so the replay goes on with exactly one run per run key, and that run
    succeeds once."""
    command = [sys.executable, "-m", "mlops_pipelines.cli", "stack", "demo", "--project", PROJECT]
    command += ["--until", "2024-01-19", "--json", "--timeout", "600"]
    demo = subprocess.Popen(command, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        daemon, first = _kill_the_daemon_once_the_sensor_created_a_run(stack, time.monotonic() + 600)
        while processes.is_alive(daemon):
            time.sleep(0.1)
        again = cli(stack.env, "stack", "up")
        assert again.returncode == 0, again.stderr
        out, err = demo.communicate(timeout=900)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, f"{out}\n{err}"
    summary = json.loads(out)
    with dg.DagsterInstance.from_config(str(stack.config.dagster_home)) as instance:
        launched = instance.get_runs(dg.RunsFilter(tags={SENSOR_NAME_TAG: KILLED_SENSOR}))
        keys = [r.tags[names.RUN_KEY_TAG] for r in launched]
        assert len(keys) == len(set(keys)), keys  # never a second run under one run key
        # ...nor a second retrain for one trigger under another key: nothing failed, so no retry.
        triggers = [r.tags[names.TRIGGER_TAG] for r in launched]
        assert len(triggers) == len(set(triggers)), triggers
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in launched), [r.status for r in launched]
        run = instance.get_run_by_id(first)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert len(instance.all_logs(first, of_type=dg.DagsterEventType.RUN_START)) == 1
    # The replay's retrains are exactly the runs the sensor launched, the killed tick's one included.
    retrains = {r["run_id"] for r in summary["retrains"] if not r["reason"].startswith("bootstrap")}
    assert first in retrains and retrains == {r.run_id for r in launched}, (retrains, keys)
