"""The per-project alias lock: a file lock on this host, plus a PostgreSQL advisory lock across hosts.

Every read-modify-write of a project's aliases (promote, rollback, retire, approvals) runs under
`alias_lock`. The flock serialises the processes of one host cheaply; with a lock URL (the
`MLOPS_LOCK_URL` setting, handed in as `TrackingConfig.lock_url`) the same block also holds a
session-level advisory lock in that database, so workers and CLIs on other hosts wait too.

Both are released by their holder's death: the kernel drops a dead process's flock, and
PostgreSQL drops a session's advisory locks when its connection closes. A crashed promotion
never leaves a stale lock. An unreachable lock database fails closed: nothing moves.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from mlops_pipelines.lib.registry.session import redact_uri

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 60.0
# The setting that carries the lock URL (settings.py reads it); named in every error about it.
LOCK_URL_SETTING = "MLOPS_LOCK_URL"
_POLL_SECONDS = 0.1
_CONNECT_TIMEOUT_SECONDS = 10
# Advisory lock keys are one 64-bit space per database: the prefix keeps ours apart from others'.
_KEY_NAMESPACE = "mlops_pipelines/alias-lock/"
_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "postgresql+psycopg2": "postgresql"}
# The server probes an idle holder's connection, so a holder whose host vanished (no FIN, no RST)
# loses its lock in about idle + interval * count seconds, not after the kernel's two hours.
_SERVER_KEEPALIVES = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"


class AliasLockTimeoutError(TimeoutError):
    """Another process held the alias lock for longer than the timeout; names the lock."""


class LockDatabaseError(RuntimeError):
    """The lock database is misconfigured or unreachable; names `MLOPS_LOCK_URL`. Nothing moved."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for lock `name` (the same on every host and Python run)."""
    digest = hashlib.sha256((_KEY_NAMESPACE + name).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _dsn(url: str) -> str:
    """`url` as libpq takes it: SQLAlchemy's postgresql+psycopg2:// is accepted for the stack's URLs."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise LockDatabaseError(
            f"{LOCK_URL_SETTING}={redact_uri(url)!r}: give the lock database as "
            "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE"
        )
    return parts._replace(scheme=scheme).geturl()


def _first_line(err: BaseException) -> str:
    """libpq's messages run over several lines (hints, the server's address); the first says it."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


@contextmanager
def _file_lock(lock_path: Path, deadline: float, timeout: float) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # Each call opens its own file description: threads of one process exclude each other too.
    with lock_path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AliasLockTimeoutError(
                        f"{lock_path}: alias lock still held after {timeout:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str, name: str, deadline: float, timeout: float) -> Iterator[None]:
    import psycopg2

    dsn, key, shown = _dsn(url), advisory_key(name), redact_uri(url)
    unreachable = f"{LOCK_URL_SETTING}={shown}: the lock database is unreachable, so no alias moves"
    try:
        conn = psycopg2.connect(
            dsn,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            application_name=f"mlops_pipelines alias lock {name}"[:63],
            options=_SERVER_KEEPALIVES,
        )
    except psycopg2.Error as err:
        raise LockDatabaseError(f"{unreachable}: {_first_line(err)}") from err
    try:
        # Autocommit: a session lock needs no transaction, and an open one would sit idle in it.
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    row = cur.fetchone()
                    if row is not None and row[0]:
                        break
                    if time.monotonic() >= deadline:
                        raise AliasLockTimeoutError(
                            f"{name}: alias lock (advisory lock {key} in {shown}) "
                            f"still held by another host after {timeout:.0f}s"
                        )
                    time.sleep(_POLL_SECONDS)
        except psycopg2.Error as err:
            raise LockDatabaseError(f"{unreachable}: {_first_line(err)}") from err
        try:
            yield
        finally:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg2.Error as err:
                # The session is gone, and the server dropped its locks with it.
                log.warning("%s: advisory unlock failed (%s); the closed session released it", name, err)
    finally:
        conn.close()


@contextmanager
def alias_lock(
    lock_path: Path,
    timeout: float = LOCK_TIMEOUT_SECONDS,
    *,
    lock_url: str | None = None,
    name: str | None = None,
) -> Iterator[None]:
    """Exclusive flock on `lock_path` and, with `lock_url`, PostgreSQL advisory lock `name`
    (default: the lock file's name), both polled until `timeout` (shared) so a stuck holder
    cannot hang us. Raises AliasLockTimeoutError, or LockDatabaseError before the block runs.
    """
    deadline = time.monotonic() + timeout
    # The flock first: processes of one host queue on it, and only one holds a database session.
    with _file_lock(lock_path, deadline, timeout):
        if lock_url is None:
            yield
            return
        with _advisory_lock(lock_url, name or lock_path.name, deadline, timeout):
            yield
