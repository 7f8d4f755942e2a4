"""One place that opens MLflow clients: explicit URIs, bounded retries, clear outage errors.

Every client is built with explicit tracking and registry URIs (never MLflow's process-global
URI), so several projects and stores can live in one process. MLflow reads its HTTP retry and
timeout settings from environment variables at request time; they are set for the duration of
a session only, because its defaults retry for minutes before giving up.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_pipelines.lib.registry.ledger import VersionLedger


class TrackingUnavailable(RuntimeError):  # noqa: N818 (name is the shared contract)
    """The tracking or registry store did not answer in time; the message names the URI."""


class TrackingRejected(RuntimeError):  # noqa: N818 (pairs with TrackingUnavailable)
    """The tracking server refused the credentials (401/403); retrying will not help."""


@dataclass(frozen=True)
class TrackingConfig:
    tracking_uri: str
    registry_uri: str | None
    artifact_root: str
    experiment_prefix: str = "mlops_pipelines"
    http_max_retries: int = 2
    http_timeout_seconds: int = 10
    http_backoff_factor: int = 1
    # MLflow basic auth (a tracking server); MLflow's client reads them from its environment
    # variables, set for the duration of a session like the retry limits.
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # Where a loader checks that a pipeline run produced a version (lib.registry.ledger); None:
    # only the version's own sha256 tag is checked. The environment decides (resources/tracking.py).
    ledger: VersionLedger | None = field(default=None, repr=False, compare=False)
    # PostgreSQL URL of the cross-host alias lock (MLOPS_LOCK_URL, lib.registry.locks); None: the
    # per-host file lock alone. Kept out of repr: it may carry a password.
    lock_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for field_name in ("tracking_uri", "registry_uri"):
            uri = getattr(self, field_name)
            if uri is not None and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
                raise ValueError(
                    f"TrackingConfig.{field_name}={uri!r}: a SQLite store needs an absolute path "
                    "(sqlite:////abs/path/mlflow.db, four slashes); a relative one follows the CWD"
                )
        proxied = self.artifact_root.startswith("mlflow-artifacts:")  # the tracking server's own store
        if "://" not in self.artifact_root and not proxied and not Path(self.artifact_root).is_absolute():
            raise ValueError(
                f"TrackingConfig.artifact_root={self.artifact_root!r}: must be absolute or a URI, "
                "else artifacts land relative to the current directory"
            )
        if self.http_max_retries < 0 or self.http_timeout_seconds < 1 or self.http_backoff_factor < 0:
            raise ValueError("TrackingConfig: http retries/backoff must be >= 0 and the timeout >= 1 s")

    @property
    def resolved_registry_uri(self) -> str:
        return self.registry_uri or self.tracking_uri

    @classmethod
    def embedded(cls, state_dir: Path, experiment_prefix: str = "mlops_pipelines") -> TrackingConfig:
        """SQLite tracking store and local artifacts under `state_dir` (no server)."""
        state = state_dir.resolve()
        uri = f"sqlite:///{state / 'mlflow.db'}"
        return cls(uri, uri, str(state / "mlartifacts"), experiment_prefix)


def redact_uri(uri: str) -> str:
    """The URI with any password replaced, fit for error messages and logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_SECRETS = frozenset({"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"})


class _BoundedHttpEnv:
    """Sets MLflow's HTTP retry variables while at least one session is open in this process.

    Threads share os.environ, so the first session in sets the values and the last one out
    restores them (credentials that were unset are removed again; HTTP bounds stay: see below);
    overlapping sessions with different limits run under the first one's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: dict[str, str | None] = {}

    @contextmanager
    def applied(self, cfg: TrackingConfig) -> Iterator[None]:
        values = {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(cfg.http_max_retries),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(cfg.http_timeout_seconds),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(cfg.http_backoff_factor),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        if cfg.username is not None and cfg.password is not None:
            values["MLFLOW_TRACKING_USERNAME"] = cfg.username
            values["MLFLOW_TRACKING_PASSWORD"] = cfg.password
        with self._lock:
            if self._depth == 0:
                self._saved = {key: os.environ.get(key) for key in values}
                os.environ.update(values)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for key, old in self._saved.items():
                        if old is not None:
                            os.environ[key] = old
                        elif key in _SECRETS:
                            os.environ.pop(key, None)
                        # A bounded-HTTP setting that was unset stays set: deleting a variable
                        # races with any thread iterating os.environ (requests does, for proxies,
                        # on every call) and fails it with a KeyError; a retry bound left behind
                        # only keeps MLflow's minutes of retries away from this process.


_HTTP_ENV = _BoundedHttpEnv()


def is_unavailable(err: BaseException) -> bool:
    """True when `err` (or what it wraps) is a connection failure, timeout or store outage."""
    import requests
    import sqlalchemy.exc

    outage = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,
        sqlalchemy.exc.OperationalError,
    )
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, outage):
            return True
        if getattr(current, "error_code", None) == "TEMPORARILY_UNAVAILABLE":
            return True
        seen.add(id(current))
        # MLflow re-raises transport errors without `from`, so the cause sits in __context__.
        current = current.__cause__ or current.__context__
    return False


# MLflow logs at INFO when it creates or migrates an embedded store's tables ("Creating initial
# MLflow database tables..."): on a user's first run, two lines nobody can act on.
_SCHEMA_LOGGER = "mlflow.store.db.utils"


def _ensure_sqlite_parent(uri: str) -> None:
    if uri.startswith("sqlite:////"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        schema_log = logging.getLogger(_SCHEMA_LOGGER)
        if schema_log.level < logging.WARNING:
            schema_log.setLevel(logging.WARNING)


# Embedded stores whose tables this process has seen created (see _new_client).
_TABLES_READY: set[str] = set()
_TABLES_GUARD = threading.Lock()


def _new_client(cfg: TrackingConfig) -> MlflowClient:
    """A client; a fresh SQLite store's tables are created under a file lock beside it.

    MLflow creates them on a store's first use (the tracking store's in the client's constructor)
    without a lock, so two processes opening one fresh store at once (the exporter or the service
    beside a first run) both run its migrations and all but one fail ("table ... already exists",
    "duplicate column name"). One creates them while the others wait, then find them there; a
    process takes the lock only until it has seen a store's tables once.
    """
    from mlflow import MlflowClient

    tracking, registry = cfg.tracking_uri, cfg.resolved_registry_uri
    fresh = sorted({uri for uri in (tracking, registry) if uri.startswith("sqlite:////")} - _TABLES_READY)
    with ExitStack() as held:
        if fresh:
            held.enter_context(_TABLES_GUARD)
        for uri in fresh:  # sorted: two processes take two stores' locks in one order
            lock_path = Path(uri.removeprefix("sqlite:///") + ".init-lock")
            if not os.access(lock_path.parent, os.W_OK):
                continue  # a read-only store (a mounted copy): this process creates no tables there
            handle = held.enter_context(lock_path.open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, or the process dies
        client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
        if registry in fresh:
            client.search_registered_models(max_results=1)
        _TABLES_READY.update(fresh)
    return client


@contextmanager
def open_client(cfg: TrackingConfig) -> Iterator[MlflowClient]:
    """A client on `cfg`'s stores; outages inside the block become TrackingUnavailable."""
    _ensure_sqlite_parent(cfg.tracking_uri)
    _ensure_sqlite_parent(cfg.resolved_registry_uri)
    with _HTTP_ENV.applied(cfg):
        try:
            yield _new_client(cfg)
        except (TrackingUnavailable, TrackingRejected):
            raise
        except Exception as err:
            status = getattr(err, "get_http_status_code", lambda: None)()
            if status in (401, 403):
                raise TrackingRejected(
                    f"MLflow server {redact_uri(cfg.tracking_uri)} rejected the credentials (HTTP {status}): "
                    "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
                ) from err
            if is_unavailable(err):
                stores = redact_uri(cfg.tracking_uri)
                if cfg.resolved_registry_uri != cfg.tracking_uri:
                    stores += f" (registry {redact_uri(cfg.resolved_registry_uri)})"
                raise TrackingUnavailable(
                    f"MLflow store {stores} is unreachable or too slow "
                    f"(retries={cfg.http_max_retries}, timeout={cfg.http_timeout_seconds}s): "
                    f"{type(err).__name__}: {str(err)[:300]}"
                ) from err
            raise


def download_artifact_dir(cfg: TrackingConfig, artifact_uri: str, dst: Path) -> Path:
    """Copy the artifact directory at `artifact_uri` below `dst` (always a copy, even for local files)."""
    import mlflow.artifacts

    out = mlflow.artifacts.download_artifacts(
        artifact_uri=artifact_uri,
        dst_path=str(dst),
        tracking_uri=cfg.tracking_uri,
        registry_uri=cfg.resolved_registry_uri,
    )
    return Path(out)
