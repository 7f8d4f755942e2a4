"""The alias lock across hosts, on a real PostgreSQL (127.0.0.1:5432, user postgres).

"Two hosts" are two OS processes with different lock files: their flocks never meet, so only
the advisory lock can make one wait for the other. Each run creates its own database.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from mlops_pipelines.lib.registry.aliases import aliases, promote
from mlops_pipelines.lib.registry.decisions import AliasLockTimeoutError, LockDatabaseError, alias_lock
from mlops_pipelines.lib.registry.locks import LOCK_URL_SETTING, advisory_key
from mlops_pipelines.lib.registry.tracking import TrackingConfig
from mlops_pipelines.settings import LOCK_URL_ENV
from mlops_pipelines_tests.lib.registry.test_audit import DECISION, _project
from mlops_pipelines_tests.production_env import closed_port

SERVER = "postgresql://postgres@127.0.0.1:5432"
REPO = Path(__file__).resolve().parents[3]
# One "host": takes the lock, says when, holds it `hold` seconds; a lock error is printed.
HOST = """
import sys, time
from pathlib import Path
from mlops_pipelines.lib.registry.locks import alias_lock
path, url, name, timeout, hold = sys.argv[1:6]
try:
    with alias_lock(Path(path), float(timeout), lock_url=url, name=name):
        print("held", time.time(), flush=True)
        time.sleep(float(hold))
except Exception as err:
    print("error", time.time(), type(err).__name__, err, flush=True)
    sys.exit(3)
print("released", time.time(), flush=True)
"""


@contextmanager
def created_database() -> Iterator[str]:
    """A uniquely named database on the local server, dropped after (its sessions too)."""
    import psycopg2

    name = f"mlops_lock_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"{SERVER}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def lock_url() -> Iterator[str]:
    with created_database() as url:
        yield url


class Host:
    """A process running HOST, its stdout lines read by a thread so waits can time out."""

    def __init__(self, lock_path: Path, url: str, name: str, timeout: float, hold: float) -> None:
        args = [sys.executable, "-c", HOST, str(lock_path), url, name, str(timeout), str(hold)]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[list[str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.split(maxsplit=3))

    def expect(self, word: str, within: float) -> list[str]:
        line = self.lines.get(timeout=within)
        assert line[0] == word, line
        return line

    def silent_for(self, seconds: float) -> bool:
        try:
            self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    started: list[Host] = []
    yield started
    for host in started:
        host.kill()


def _host(
    hosts: list[Host], tmp_path: Path, which: str, url: str, name: str, timeout: float, hold: float
) -> Host:
    host = Host(tmp_path / which / "locks" / f"{name}.promotion.lock", url, name, timeout, hold)
    hosts.append(host)
    return host


@pytest.mark.slow
def test_a_second_host_waits_while_the_first_holds_the_project(
    lock_url: str, tmp_path: Path, hosts: list[Host]
) -> None:
    first = _host(hosts, tmp_path, "host-a", lock_url, "wait", timeout=30, hold=2)
    held_at = float(first.expect("held", 30)[1])
    second = _host(hosts, tmp_path, "host-b", lock_url, "wait", timeout=30, hold=0)
    released_at = float(first.expect("released", 30)[1])
    acquired_at = float(second.expect("held", 30)[1])
    assert released_at - held_at >= 2
    assert acquired_at >= released_at, "the second host took the lock while the first held it"
    assert second.proc.wait(30) == 0


@pytest.mark.slow
def test_a_second_host_times_out_with_the_lock_error_while_the_first_holds_longer(
    lock_url: str, tmp_path: Path, hosts: list[Host]
) -> None:
    first = _host(hosts, tmp_path, "host-a", lock_url, "slow", timeout=30, hold=120)
    first.expect("held", 30)
    started = time.time()
    second = _host(hosts, tmp_path, "host-b", lock_url, "slow", timeout=1, hold=0)
    _, failed_at, kind, message = second.expect("error", 30)
    assert kind == "AliasLockTimeoutError"
    assert "slow: alias lock" in message and "still held by another host after 1s" in message
    assert float(failed_at) - started < 15
    assert second.proc.wait(10) == 3
    # The files differ, as on two hosts: without the lock URL nothing would have stopped the second.
    with alias_lock(tmp_path / "host-c" / "slow.promotion.lock", timeout=1):
        pass


@pytest.mark.slow
def test_a_holder_killed_with_sigkill_releases_the_lock_to_the_other_host(
    lock_url: str, tmp_path: Path, hosts: list[Host]
) -> None:
    first = _host(hosts, tmp_path, "host-a", lock_url, "crash", timeout=30, hold=300)
    first.expect("held", 30)
    second = _host(hosts, tmp_path, "host-b", lock_url, "crash", timeout=60, hold=0)
    assert second.silent_for(2), "the second host took the lock while the first held it"
    killed_at = time.time()
    first.kill()
    assert first.proc.returncode == -signal.SIGKILL
    acquired_at = float(second.expect("held", 30)[1])
    assert acquired_at - killed_at < 5
    assert second.proc.wait(30) == 0


@pytest.mark.slow
def test_projects_lock_apart_and_one_project_excludes_in_process_too(
    lock_url: str, tmp_path: Path, hosts: list[Host]
) -> None:
    first = _host(hosts, tmp_path, "host-a", lock_url, "alpha", timeout=30, hold=120)
    first.expect("held", 30)
    with alias_lock(tmp_path / "here" / "beta.lock", timeout=2, lock_url=lock_url, name="beta"):
        pass
    with (
        pytest.raises(AliasLockTimeoutError, match="alpha: alias lock"),
        alias_lock(tmp_path / "here" / "alpha.lock", timeout=0.5, lock_url=lock_url, name="alpha"),
    ):
        pytest.fail("the block ran without the lock")


def test_the_key_is_stable_across_hosts_and_versions() -> None:
    # A changed derivation would let hosts on old and new code promote at once: keep it fixed.
    assert advisory_key("churn") == -8798756875426876835
    assert advisory_key("bike_sharing") == -6412454995973050581
    assert advisory_key("churn") != advisory_key("churn2")
    assert LOCK_URL_SETTING == LOCK_URL_ENV


def test_a_lock_url_that_is_not_postgresql_names_the_setting(tmp_path: Path) -> None:
    with (
        pytest.raises(LockDatabaseError, match=f"^{LOCK_URL_SETTING}=.*postgresql://USER") as caught,
        alias_lock(tmp_path / "p.lock", timeout=1, lock_url="mysql://root:hunter2@db/x", name="p"),
    ):
        pytest.fail("the block ran without the lock")
    assert "hunter2" not in str(caught.value)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("lock-state"))
    patch.undo()


@pytest.mark.slow
def test_promote_from_a_second_host_waits_for_the_holder_then_moves_the_champion(
    cfg: TrackingConfig, lock_url: str, tmp_path: Path, hosts: list[Host]
) -> None:
    locked = replace(cfg, lock_url=lock_url)
    assert lock_url not in repr(locked)
    _project(locked, "guarded", 2)
    promote(locked, "guarded", "1", DECISION, tmp_path / "a.lock", expected_champion=None)
    first = _host(hosts, tmp_path, "host-b", lock_url, "guarded", timeout=30, hold=2)
    released_by = float(first.expect("held", 30)[1]) + 2
    promote(locked, "guarded", "2", DECISION, tmp_path / "a.lock", expected_champion="1")
    assert time.time() >= released_by, "promote moved the aliases while another host held the lock"
    assert aliases(locked, "guarded") == {"champion": "2", "previous-champion": "1"}


@pytest.mark.slow
def test_an_unreachable_lock_database_names_the_setting_and_moves_nothing(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    _project(cfg, "closed", 2)
    promote(cfg, "closed", "1", DECISION, tmp_path / "a.lock", expected_champion=None)
    before = aliases(cfg, "closed")
    unreachable = replace(cfg, lock_url=f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/locks")
    started = time.monotonic()
    with pytest.raises(
        LockDatabaseError, match=f"^{LOCK_URL_SETTING}=.*unreachable, so no alias moves"
    ) as caught:
        promote(unreachable, "closed", "2", DECISION, tmp_path / "a.lock", expected_champion="1")
    assert "s3cret" not in str(caught.value)
    assert time.monotonic() - started < 15
    assert aliases(cfg, "closed") == before == {"challenger": "2", "champion": "1"}
