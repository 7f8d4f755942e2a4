"""PostgreSQL restarted under a running stack (issue 11 item 5): the run in flight completes or
fails cleanly (it never hangs), nothing recorded is lost, and the next run proceeds. The stack
runs on a private PostgreSQL this module starts and stops itself (never the shared server)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from mlops_pipelines import names
from mlops_pipelines.stack.config import POSTGRES_VAR
from mlops_pipelines.stack.files import LOCATION_NAME
from mlops_pipelines_tests.production_env import closed_port
from mlops_pipelines_tests.stack.stack_support import PROJECT, Stack, cli, start_stack, wait_for_run

pytestmark = pytest.mark.slow


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql (see STACK-NOTES)")
    return found[-1].parent


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=False, timeout=120
    )


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        # Not under pytest's tmp dirs: those are 0700 root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        shutil.chown(self.root, "postgres")
        self.dir, self.port = self.root / "pgdata", closed_port()
        init = _as_postgres(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust")
        assert init.returncode == 0, init.stderr
        self.ctl("start")

    def ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        # The server's output goes to a file: a pipe it inherited would never reach EOF.
        log = str(self.root / "server.log")
        argv = [str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", options, "-l", log, "-w", *extra, action]
        done = _as_postgres(*argv)
        assert done.returncode == 0, f"pg_ctl {action}: {done.stdout}{done.stderr}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, PrivatePostgres]]:
    root = tmp_path_factory.mktemp("stack_pg")
    postgres = PrivatePostgres()
    try:
        started = start_stack(root, {POSTGRES_VAR: postgres.url})
        try:
            yield started, postgres
        finally:
            down = cli(started.env, "stack", "down", "--drop")
            assert down.returncode == 0, down.stderr
    finally:
        postgres.ctl("stop", "-m", "fast")
        shutil.rmtree(postgres.root, ignore_errors=True)


def _launch(stack: Stack, first: str, last: str) -> str:
    client = DagsterGraphQLClient(stack.config.host, port_number=stack.config.webserver_port)
    tags = {names.RANGE_START_TAG: first, names.RANGE_END_TAG: last}
    return client.submit_job_execution(
        names.scoped(PROJECT, names.DATA_JOB), repository_location_name=LOCATION_NAME, tags=tags
    )


def test_a_postgres_restart_mid_run_ends_the_run_cleanly_and_the_next_run_proceeds(
    stack: tuple[Stack, PrivatePostgres],
) -> None:
    started, postgres = stack
    home = str(started.config.dagster_home)
    with dg.DagsterInstance.from_config(home) as instance:
        first = _launch(started, "2024-01-01", "2024-01-12")
        deadline = time.monotonic() + 600
        while (run := instance.get_run_by_id(first)) is None or run.status != dg.DagsterRunStatus.STARTED:
            assert time.monotonic() < deadline, f"run {first} never started"
            time.sleep(0.5)
        steps_before = len(instance.all_logs(first, of_type=dg.DagsterEventType.STEP_START))
    postgres.ctl("restart", "-m", "fast")
    with dg.DagsterInstance.from_config(home) as instance:
        ended = wait_for_run(instance, first)
        assert ended.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)
        # What was recorded before the restart is still there.
        assert len(instance.all_logs(first, of_type=dg.DagsterEventType.STEP_START)) >= steps_before
        # Through the webserver, whose pooled connections all died with the restart (commands.py).
        second = _launch(started, "2024-01-13", "2024-01-14")
        assert wait_for_run(instance, second).status == dg.DagsterRunStatus.SUCCESS
