"""A Dagster home written and its SQLite storages created once, under a file lock inside it.

Dagster's SQLite storages create their tables and stamp their alembic revision on first open,
without a lock. Processes opening one fresh home at once (`mlops-pipelines ui` and a demo, or
the exporter or the model service beside a first run) race there: some fail ("table
alembic_version already exists"), and the stamp can be written twice, after which every later
open of that home fails ("Version table 'alembic_version' has more than one head present").
Four processes opening a fresh home together did both on this machine kind; the instance was
lost. The configuration file has the same race: a process reading it while another is still
writing it reads an empty file and takes Dagster's defaults (another storage layout).

So every command that opens the instance first comes here: the first one writes the file and
creates the storages while the others wait on the lock, then find them there.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".mlops-init.lock"
# Written once the storages are complete: their files exist as soon as their creation begins, so
# a process that saw only the files could open a storage another is still stamping.
DONE_FILE = ".mlops-init.done"
CONFIG_FILE = "dagster.yaml"


def prepare_home(dagster_home: Path, config_text: str, *, storages: bool) -> None:
    """Write `config_text` to a home that has no configuration; with `storages`, create its tables.

    A home whose configuration is not `config_text` (the user's own, PostgreSQL for example) is
    left to it, and so is a home already prepared: neither is written to, so a read-only mounted
    home (the Kubernetes serving pod's) works as before.
    """
    if _prepared(dagster_home, config_text, storages):
        return
    dagster_home.mkdir(parents=True, exist_ok=True)
    with (dagster_home / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, or the process dies
        config = dagster_home / CONFIG_FILE
        if not config.exists():
            _write_whole(config, config_text)
        if _prepared(dagster_home, config_text, storages):
            return
        import dagster as dg

        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            # One read per storage: each creates its tables on first use if the open did not.
            instance.get_runs(limit=1)
            instance.all_instigator_state()
            instance.get_latest_materialization_event(dg.AssetKey("mlops_pipelines_home_check"))
        (dagster_home / DONE_FILE).touch()


def _prepared(dagster_home: Path, config_text: str, storages: bool) -> bool:
    """Nothing to do: a configuration is there, and it is the user's, or its storages are done."""
    config = dagster_home / CONFIG_FILE
    if not config.exists():
        return False
    if not storages or config.read_text(encoding="utf-8") != config_text:
        return True
    return (dagster_home / DONE_FILE).exists()


def _write_whole(path: Path, text: str) -> None:
    """Make `path` appear with all of `text` at once: a process reading it without the lock never
    sees it half-written (and an existing file is never replaced)."""
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.write_text(text, encoding="utf-8")
    try:
        os.link(part, path)
    finally:
        part.unlink()
