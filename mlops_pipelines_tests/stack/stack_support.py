"""A private stack for one test module: its own state directory, databases, ports and a small
project, started and stopped with the real CLI (`mlops-pipelines stack up|down`) as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterEventType

from mlops_pipelines.stack.config import StackConfig, stack_config
from mlops_pipelines_tests.production_env import closed_port

PACKAGED = Path(__file__).resolve().parents[2] / "mlops_pipelines" / "projects"
PROJECT = "stack_sim"
USERNAME = "mlops_admin"
PASSWORD = "stack-test-password-" + uuid.uuid4().hex[:8]
# A run on 2 shared cores with per-step imports in the workers; generous, it only bounds a hang.
RUN_DEADLINE_SECONDS = 900


@dataclass(frozen=True)
class Stack:
    config: StackConfig
    env: dict[str, str]


def small_project(directory: Path) -> Path:
    """demand_sim shrunk to 24 days and one candidate: data, training and evaluation in seconds."""
    spec: dict[str, Any] = yaml.safe_load((PACKAGED / "demand_sim.yaml").read_text(encoding="utf-8"))
    spec["name"] = PROJECT
    spec["source"]["simulator"].update({"days": 24, "rows_per_hour": 2, "concept_change": "2024-01-18"})
    spec["partitions"]["end"] = "2024-01-24"
    spec["training"].update(
        {
            "window_partitions": 12,
            "holdout_partitions": 4,
            "cv_folds": 2,
            "search_space": {"model__max_iter": [30], "model__learning_rate": [0.1]},
            "search_iterations": 1,
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PROJECT}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def stack_env(root: Path) -> dict[str, str]:
    """The environment of `stack up` for this test: unique databases, free ports, a private dir."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_", "DAGSTER_"))}
    small_project(root / "projects")
    env.update(
        {
            "MLOPS_HOME": str(root / "home"),
            "MLOPS_STACK_DIR": str(root / "stack"),
            "MLOPS_STACK_DAGSTER_DB": f"mlops_test_{tag}_dagster",
            "MLOPS_STACK_MLFLOW_DB": f"mlops_test_{tag}_mlflow",
            "MLOPS_STACK_WEBSERVER_PORT": str(closed_port()),
            "MLOPS_STACK_MLFLOW_PORT": str(closed_port()),
            "MLOPS_STACK_CODE_SERVER_PORT": str(closed_port()),
            "MLOPS_PROJECTS_DIR": str(root / "projects"),
            "MLFLOW_TRACKING_USERNAME": USERNAME,
            "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        }
    )
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_pipelines.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def start_stack(root: Path, extra: dict[str, str] | None = None) -> Stack:
    """`stack up` on a private environment; `extra` variables reach every process it starts."""
    env = {**stack_env(root), **(extra or {})}
    up = cli(env, "stack", "up")
    if up.returncode != 0:
        cli(env, "stack", "down", "--drop")  # the databases it created, whatever started
    assert up.returncode == 0, f"stack up failed:\n{up.stdout}\n{up.stderr}"
    return Stack(stack_config(environ=env), env)


@contextmanager
def running_stack(root: Path, extra: dict[str, str] | None = None) -> Iterator[Stack]:
    """`start_stack`, then `stack down --drop` (its databases too) however the block ends."""
    started = start_stack(root, extra)
    try:
        yield started
    finally:
        down = cli(started.env, "stack", "down", "--drop")
        assert down.returncode == 0, down.stderr


def wait_for_run(instance: Any, run_id: str) -> Any:
    """The run once it has finished (any terminal status)."""
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while True:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status if run else 'missing'}"
        time.sleep(2)


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def step_pids(instance: Any, run_id: str) -> tuple[int, dict[str, int]]:
    """The run worker's pid and each step's, as recorded with their events."""
    [run_start] = instance.all_logs(run_id, of_type=DagsterEventType.RUN_START)
    starts = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    assert run_start.dagster_event is not None
    run_pid = run_start.dagster_event.pid
    assert run_pid is not None
    steps = {e.step_key: e.dagster_event.pid for e in starts if e.step_key and e.dagster_event}
    return run_pid, {k: v for k, v in steps.items() if v is not None}
