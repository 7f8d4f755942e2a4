"""Commands starting together on a fresh home: one writes the instance and creates its storages.

Before instance_home, four processes opening a fresh home through the CLI's state setup failed
some of themselves ("table alembic_version already exists"), and could stamp a storage twice,
after which no process could open the home again ("more than one head present").
"""

from __future__ import annotations

import fcntl
import sqlite3
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.cli import INSTANCE_CONFIG
from mlops_pipelines.instance_home import DONE_FILE, LOCK_FILE, prepare_home
from mlops_pipelines_tests.together import outputs, start_together

# Where the storages of the CLI's own configuration (cli.INSTANCE_CONFIG) keep their tables.
STORAGE_FILES = ("history/runs.db", "event_log.db", "schedules/schedules.db")

IMPORTS = """
import argparse, os, sys
import dagster as dg
from mlops_pipelines import cli
os.environ.pop("DAGSTER_HOME", None)
"""
# As `main` does, then as every command that opens the instance does.
COMMAND = """
cli._use_state(argparse.Namespace(command="reconcile", home=sys.argv[3]))
with dg.DagsterInstance.get() as instance:
    assert instance.get_runs(limit=1) == []
"""


def start(home: Path, count: int) -> list[subprocess.Popen[str]]:
    return start_together(IMPORTS, COMMAND, [str(home)], home.parent / "signals", count)


def stamps(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("select version_num from alembic_version")]


def test_commands_starting_together_on_a_fresh_home_all_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "mlops"
    procs = start(home, 4)
    ended = outputs(procs)
    assert [p.returncode for p in procs] == [0] * 4, "\n---\n".join(ended)
    dagster_home = home / "dagster"
    assert (dagster_home / "dagster.yaml").read_text(encoding="utf-8") == INSTANCE_CONFIG
    for name in STORAGE_FILES:  # stamped at most once (the event log's is left empty by Dagster)
        assert len(stamps(dagster_home / name)) <= 1, name
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the configuration reads it
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:  # the home opens again
        assert instance.get_runs(limit=1) == []


def test_a_command_waits_while_another_prepares_the_home_and_writes_nothing(tmp_path: Path) -> None:
    dagster_home = tmp_path / "mlops" / "dagster"
    dagster_home.mkdir(parents=True)
    with (dagster_home / LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another command preparing the home
        [proc] = start(tmp_path / "mlops", 1)
        time.sleep(3)
        assert proc.poll() is None, outputs([proc])
        assert sorted(p.name for p in dagster_home.iterdir()) == [LOCK_FILE]
    ended = outputs([proc])
    assert proc.returncode == 0, ended
    assert all((dagster_home / name).exists() for name in STORAGE_FILES)


def test_a_users_own_configuration_is_neither_rewritten_nor_given_storages(tmp_path: Path) -> None:
    own = "telemetry:\n  enabled: false\n"
    (tmp_path / "dagster.yaml").write_text(own, encoding="utf-8")
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=True)
    # Nothing written at all, not even the lock: the home may be a read-only mount (k8s serving).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster.yaml"]
    assert (tmp_path / "dagster.yaml").read_text(encoding="utf-8") == own


def test_a_prepared_home_is_not_written_to_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=True)
    assert all((tmp_path / name).exists() for name in STORAGE_FILES)
    assert (tmp_path / DONE_FILE).exists()
    (tmp_path / LOCK_FILE).unlink()
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=True)
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_home_with_configuration_but_no_storages_gets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=False)
    assert not any((tmp_path / name).exists() for name in STORAGE_FILES)
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=True)
    assert all((tmp_path / name).exists() for name in STORAGE_FILES)


def test_a_command_that_never_opens_the_instance_writes_only_its_configuration(tmp_path: Path) -> None:
    prepare_home(tmp_path / "home", INSTANCE_CONFIG, storages=False)
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == [LOCK_FILE, "dagster.yaml"]


def test_a_home_made_before_the_marker_is_checked_once_then_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(INSTANCE_CONFIG, encoding="utf-8")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:  # an earlier version's home
        instance.get_runs(limit=1)
        instance.all_instigator_state()
    assert all((tmp_path / name).exists() for name in STORAGE_FILES)
    assert not (tmp_path / DONE_FILE).exists()  # files alone are not trusted: see DONE_FILE
    prepare_home(tmp_path, INSTANCE_CONFIG, storages=True)
    assert (tmp_path / DONE_FILE).exists()
    assert len(stamps(tmp_path / "history" / "runs.db")) == 1
