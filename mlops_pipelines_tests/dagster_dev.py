"""Run `dagster dev` as a real process and talk to it through its GraphQL API.

`dagster dev` copies an ignored SIGINT from its parent (a shell that started the tests with `&`)
and then ignores SIGTERM as well, so it is started in its own session with SIGINT reset, and
stopped by signalling its whole process group (webserver, daemon, code server, run workers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

# Restores SIGINT's default handler, then becomes the real command (same pid, same group).
_RESET_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
TERMINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""
RUN_STATUS_QUERY = "query S($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
RUN_EVENTS_QUERY = """
query E($id: ID!) { runOrError(runId: $id) { ... on Run { eventConnection(limit: 5000) { events {
    __typename ... on MessageEvent { message level stepKey }
    ... on ErrorEvent { error { message causes { message } } } } } } } }
"""


class DagsterDevError(RuntimeError):
    """`dagster dev` did not start, answered with GraphQL errors, or did not finish in time."""


def free_loopback_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (free now; racing for it is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DagsterDev:
    """A running `dagster dev`: its process (a process-group leader), port and log file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
        """The `data` of one GraphQL request; GraphQL-level errors raise with their messages."""
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in body["errors"])
            raise DagsterDevError(f"GraphQL errors: {messages}")
        return body["data"]

    def wait_until_ready(self, timeout: float) -> None:
        """Poll /server_info, then the workspace, until the code location has loaded."""
        deadline = time.monotonic() + timeout
        while not self._answers("/server_info"):
            self._check_alive_before(deadline, "answer /server_info")
            time.sleep(1.0)
        while True:
            entries = self.graphql(WORKSPACE_QUERY)["workspaceOrError"].get("locationEntries") or []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                broken = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if broken:
                    errors = "\n".join(f"{e['name']}: {e['locationOrLoadError']['message']}" for e in broken)
                    raise DagsterDevError(f"code location failed to load:\n{errors}")
                return
            self._check_alive_before(deadline, "load the code location")
            time.sleep(1.0)

    def wait_for_run(self, run_id: str, timeout: float) -> str:
        """Poll a run until it reaches a terminal status; return that status."""
        deadline = time.monotonic() + timeout
        status = "UNKNOWN"
        while time.monotonic() < deadline:
            run = self.graphql(RUN_STATUS_QUERY, {"id": run_id})["runOrError"]
            if run["__typename"] != "Run":
                raise DagsterDevError(f"run {run_id} not found: {run['__typename']}")
            status = str(run["status"])
            if status in TERMINAL_RUN_STATUSES:
                return status
            time.sleep(2.0)
        raise DagsterDevError(f"run {run_id} still {status} after {timeout:.0f} s")

    def run_errors(self, run_id: str) -> list[str]:
        """Every ERROR-level or error-carrying event of a run: `step: message: error <- causes`."""
        events = self.graphql(RUN_EVENTS_QUERY, {"id": run_id})["runOrError"]["eventConnection"]["events"]
        lines = []
        for event in events:
            error = event.get("error") or {}
            if event.get("level") != "ERROR" and not error:
                continue
            chain = [error.get("message", ""), *(c["message"] for c in error.get("causes", []))]
            where = event.get("stepKey") or event["__typename"]
            lines.append(f"{where}: {event.get('message')}: {' <- '.join(m.strip() for m in chain if m)}")
        return lines

    def stop(self, timeout: float = 60.0, grace: float = 15.0) -> Stopped:
        """SIGTERM the process group and wait; SIGKILL it if the leader lingers past `timeout`.

        Group members still alive `grace` seconds after the leader exited are reported, then
        killed: a run worker or code server orphaned by the leader must not outlive the test.
        """
        pgid = self.process.pid  # a session leader's pid is its group id
        forced = False
        try:
            if self.process.poll() is None:
                _signal_group(pgid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    forced = True
                    _signal_group(pgid, signal.SIGKILL)
                    self.process.wait(timeout=30)
            deadline = time.monotonic() + grace
            while (stragglers := live_group_members(pgid)) and time.monotonic() < deadline:
                time.sleep(0.5)
            _signal_group(pgid, signal.SIGKILL)
        finally:
            self._log.close()
        return Stopped(int(self.process.returncode), forced, tuple(stragglers))

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(f"{self.url}{path}", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive_before(self, deadline: float, what: str) -> None:
        if self.process.poll() is not None:
            code = self.process.returncode
            raise DagsterDevError(
                f"dagster dev exited with {code} before it could {what}:\n{self.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise DagsterDevError(f"dagster dev did not {what} in time:\n{self.log_tail()}")


@dataclass(frozen=True)
class Stopped:
    """How `dagster dev` ended: exit code, whether SIGKILL was needed, members left behind."""

    exit_code: int
    forced: bool
    stragglers: tuple[str, ...]


def live_group_members(pgid: int) -> list[str]:
    """`pid command` of every process in the group that is not a zombie (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process exited while we looked
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(f"{stat.parent.name} {text[text.index('(') + 1 : text.rindex(')')]}")
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def isolated_env(dagster_home: Path, mlops_home: Path, data_dir: Path) -> dict[str, str]:
    """This process's environment without any MLOPS_* / DAGSTER_* setting of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        MLOPS_HOME=str(mlops_home),
        MLOPS_DATA_DIR=str(data_dir),
        MLOPS_ENV="local",
        # Runs link reports under it and the UI serves them there: a port of this test's own.
        MLOPS_REPORTS_URL=f"http://127.0.0.1:{free_loopback_port()}/",
    )
    return env


def start_dagster_dev(repo_root: Path, env: dict[str, str], port: int, log_path: Path) -> DagsterDev:
    """Start `dagster dev` on the repo's workspace.yaml, bound to 127.0.0.1:port.

    DAGSTER_HOME (from `env`) gets a dagster.yaml that turns telemetry off: tests never touch
    the network.
    """
    dagster = Path(sys.executable).parent / "dagster"
    if not dagster.is_file():
        raise DagsterDevError(f"no dagster executable beside the interpreter: {dagster}")
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    command = [
        str(dagster),
        "dev",
        "-w",
        str(repo_root / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _RESET_SIGINT, *command],
        cwd=repo_root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return DagsterDev(process=process, port=port, log_path=log_path, _log=log)


def start_ui(repo_root: Path, env: dict[str, str], port: int, log_path: Path) -> DagsterDev:
    """Start the product's own `mlops-pipelines ui` (what `./dev ui` runs) bound to 127.0.0.1:port.

    Unlike `start_dagster_dev` it writes nothing: the command must configure the instance and
    find the data by itself. It execs `dagster dev` in place, so the pid and group stay the same.
    """
    cli = Path(sys.executable).parent / "mlops-pipelines"
    if not cli.is_file():
        raise DagsterDevError(f"no mlops-pipelines executable beside the interpreter: {cli}")
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _RESET_SIGINT, str(cli), "ui", "--port", str(port)],
        cwd=repo_root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return DagsterDev(process=process, port=port, log_path=log_path, _log=log)
