"""A fresh embedded MLflow store opened by several processes at once: one creates its tables.

MLflow creates a SQLite store's tables on first use without a lock; three processes opening one
fresh store together failed two of three every time ("table experiments already exists",
"duplicate column name: step") before open_client took a file lock beside the store.
"""

from __future__ import annotations

import fcntl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mlops_pipelines.lib.registry import session
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines_tests.together import outputs, start_together

IMPORTS = """
import sys
from pathlib import Path
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
import mlflow.store.tracking.sqlalchemy_store, mlflow.store.model_registry.sqlalchemy_store
"""
OPEN = """
with open_client(TrackingConfig.embedded(Path(sys.argv[3]))) as client:
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
"""


def openers(state: Path, count: int) -> list[subprocess.Popen[str]]:
    return start_together(IMPORTS, OPEN, [str(state)], state.parent / "signals", count)


def test_processes_opening_one_fresh_store_at_once_all_succeed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    procs = openers(state, 3)
    ended = outputs(procs)
    assert [p.returncode for p in procs] == [0, 0, 0], "\n---\n".join(ended)
    with open_client(TrackingConfig.embedded(state)) as client:
        client.create_registered_model("after_the_race")
        assert [m.name for m in client.search_registered_models()] == ["after_the_race"]


def test_a_process_waits_for_the_one_creating_the_tables_and_creates_nothing_meanwhile(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with (state / "mlflow.db.init-lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process creating the tables
        [proc] = openers(state, 1)
        time.sleep(3)
        assert proc.poll() is None, outputs([proc])
        assert not (state / "mlflow.db").exists() or (state / "mlflow.db").stat().st_size == 0
    ended = outputs([proc])
    assert proc.returncode == 0, ended
    assert (state / "mlflow.db").stat().st_size > 0


def test_a_process_that_has_seen_the_tables_does_not_wait_on_the_lock_again(tmp_path: Path) -> None:
    cfg = TrackingConfig.embedded(tmp_path / "state")
    with open_client(cfg) as client:
        client.create_registered_model("seen")
    done = threading.Event()

    def reopen() -> None:
        with open_client(cfg) as again:
            assert [m.name for m in again.search_registered_models()] == ["seen"]
        done.set()

    with (tmp_path / "state" / "mlflow.db.init-lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a hung creator elsewhere must not stall a working store
        worker = threading.Thread(target=reopen, daemon=True)
        worker.start()
        assert done.wait(30), "open_client waited on the creation lock of a store it had seen"


def test_a_store_in_a_directory_this_process_cannot_write_is_opened_without_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    with open_client(TrackingConfig.embedded(state)) as client:  # made elsewhere, then mounted read-only
        client.create_registered_model("mounted")
    (state / "mlflow.db.init-lock").unlink()
    monkeypatch.setattr(session, "_TABLES_READY", set())  # as a new process would start
    # This test runs as root, whom permissions never refuse: the directory is read-only by fiat.
    monkeypatch.setattr(session.os, "access", lambda path, mode: Path(path) != state)
    with open_client(TrackingConfig.embedded(state)) as client:
        assert [m.name for m in client.search_registered_models()] == ["mounted"]
    assert not (state / "mlflow.db.init-lock").exists()
