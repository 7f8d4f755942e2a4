"""One supervised process of the stack: started in its own session with a pid file and a log,
checked, and stopped with its whole process group.

Each process leads its own process group, so SIGTERM reaches what it spawned too (the
webserver's code server, Celery's pool children, MLflow's uvicorn workers): signalling only a
wrapper leaves its children running (STACK-NOTES: the `dagster-celery worker start` wrapper).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlops_pipelines.stack.config import StackError

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(repr=False)
    # Ready when this URL answers any HTTP status (401 counts: the auth app is up) ...
    ready_url: str | None = None
    # ... or when this line appears in its log (Celery's "ready."); neither: alive is ready.
    ready_log: str | None = None
    url: str | None = None  # what `status` prints


def pid_path(pids_dir: Path, name: str) -> Path:
    return pids_dir / f"{name}.pid"


def log_path(logs_dir: Path, name: str) -> Path:
    return logs_dir / f"{name}.log"


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True  # no /proc here: kill(0) is all we know
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(pids_dir: Path, name: str) -> int | None:
    """The recorded pid of `name` if that process still runs, else None."""
    path = pid_path(pids_dir, name)
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    if not text.isdigit():
        raise StackError(f"{path} holds {text[:20]!r}, not a process id: remove it by hand")
    pid = int(text)
    return pid if is_alive(pid) else None


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def start(spec: ProcessSpec, pids_dir: Path, logs_dir: Path, cwd: Path) -> tuple[int, int]:
    """Start `spec` detached from this process (its own session); returns its pid and where its
    output begins in the log (the log is appended to, so an earlier run's "ready" is not this one's)."""
    log = log_path(logs_dir, spec.name)
    with log.open("ab") as handle:
        offset = handle.tell()
        process = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_path(pids_dir, spec.name).write_text(str(process.pid), encoding="utf-8")
    return process.pid, offset


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any status means the server is serving
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(spec: ProcessSpec, pid: int, offset: int, logs_dir: Path, timeout_seconds: float) -> None:
    """Wait until `spec` is ready; a process that exits, or is not ready in time, is a StackError
    quoting the end of its log."""
    log = log_path(logs_dir, spec.name)
    deadline = time.monotonic() + timeout_seconds
    while True:
        if not is_alive(pid):
            raise StackError(f"{spec.name} exited while starting; the end of {log}:\n{log_tail(log)}")
        if spec.ready_url is not None and _answers(spec.ready_url):
            return
        if spec.ready_log is not None and log.is_file():
            with log.open("rb") as handle:
                handle.seek(offset)
                if spec.ready_log.encode() in handle.read():
                    return
        if spec.ready_url is None and spec.ready_log is None:
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"{spec.name} was not ready after {timeout_seconds:.0f} s; the end of {log}:\n{log_tail(log)}"
            )
        time.sleep(POLL_SECONDS)


def stop(name: str, pids_dir: Path, timeout_seconds: float = 30.0) -> bool:
    """SIGTERM the process group of `name`, SIGKILL it after `timeout_seconds`; True if it ran."""
    path = pid_path(pids_dir, name)
    pid = read_pid(pids_dir, name)
    if pid is None:
        path.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    # The group, not just the leader: a child left behind (a code server, a pool process) dies too.
    _signal_group(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
