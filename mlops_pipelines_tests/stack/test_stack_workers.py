"""MLOPS_STACK_WORKER_CONCURRENCY: the pool processes of each queue's Celery worker (default 1),
passed to `celery worker --concurrency`; anything but a whole number >= 1 is one error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.stack.commands import QUEUES, process_specs, worker_name
from mlops_pipelines.stack.config import WORKER_CONCURRENCY_VAR, StackError, stack_config


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MLOPS_STACK_DIR": str(tmp_path / "stack"),
        "MLFLOW_TRACKING_USERNAME": "mlops_admin",
        "MLFLOW_TRACKING_PASSWORD": "a-long-enough-password",
        **extra,
    }


def _concurrency(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = stack_config(environ=_environ(tmp_path, **extra))
    specs = {spec.name: list(spec.argv) for spec in process_specs(config)}
    return {
        queue: specs[worker_name(queue)][specs[worker_name(queue)].index("--concurrency") + 1]
        for queue in QUEUES
    }


def test_each_worker_runs_one_pool_process_by_default(tmp_path: Path) -> None:
    assert stack_config(environ=_environ(tmp_path)).worker_concurrency == 1
    assert _concurrency(tmp_path) == dict.fromkeys(QUEUES, "1")


def test_the_setting_sets_every_workers_concurrency(tmp_path: Path) -> None:
    assert _concurrency(tmp_path, **{WORKER_CONCURRENCY_VAR: "4"}) == dict.fromkeys(QUEUES, "4")


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_value_is_one_error_naming_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(StackError, match=f"{WORKER_CONCURRENCY_VAR}='{value}'"):
        stack_config(environ=_environ(tmp_path, **{WORKER_CONCURRENCY_VAR: value}))
