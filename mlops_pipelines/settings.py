"""Where the system keeps its state, chosen in one place and read at call time (never at import).

Embedded defaults need no server: a Dagster SQLite instance, MLflow on SQLite with a local
artifact store, and Delta tables, all under one state directory (`MLOPS_HOME`, default
`./.mlops`). Production points the same fields at servers and object stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, cast, get_args

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig

EnvironmentName = Literal["local", "production"]
ENVIRONMENT_VAR: Final = "MLOPS_ENV"
ENVIRONMENTS: Final[tuple[EnvironmentName, ...]] = get_args(EnvironmentName)
DEFAULT_ENVIRONMENT: Final[EnvironmentName] = "local"
DATA_DIR_ENV: Final = "MLOPS_DATA_DIR"  # where the real datasets live (the simulator needs none)


class EnvironmentConfigError(ValueError):
    """The environment is unknown, or a variable it reads is missing; the message names it."""


def environment_name(name: str | None = None, environ: Mapping[str, str] | None = None) -> EnvironmentName:
    """`name`, else MLOPS_ENV (default 'local'), checked against the known environments."""
    env = os.environ if environ is None else environ
    chosen = name if name is not None else env.get(ENVIRONMENT_VAR, DEFAULT_ENVIRONMENT)
    if chosen not in ENVIRONMENTS:
        allowed = ", ".join(repr(e) for e in ENVIRONMENTS)
        raise EnvironmentConfigError(
            f"unknown environment {chosen!r}: set {ENVIRONMENT_VAR} to one of {allowed}"
        )
    return cast(EnvironmentName, chosen)


# How often the daemon evaluates each retraining sensor; read when the definitions are built.
SENSOR_INTERVAL_ENV: Final = "MLOPS_SENSOR_INTERVAL_SECONDS"
DEFAULT_SENSOR_INTERVAL: Final = 60


def sensor_interval_seconds(environ: Mapping[str, str] | None = None) -> int:
    """The retraining sensor's minimum interval: $MLOPS_SENSOR_INTERVAL_SECONDS, default 60 s. A
    shorter one lets a test stack's daemon answer a replay in seconds (the daemon's own loop
    still wakes only every few seconds)."""
    env = os.environ if environ is None else environ
    raw = env.get(SENSOR_INTERVAL_ENV) or str(DEFAULT_SENSOR_INTERVAL)
    if not raw.isdigit() or int(raw) < 1:
        raise EnvironmentConfigError(
            f"{SENSOR_INTERVAL_ENV}={raw!r}: the sensor interval is a whole number of seconds >= 1"
        )
    return int(raw)


REPORTS_URL_ENV = "MLOPS_REPORTS_URL"
# PostgreSQL URL of the alias lock across hosts (lib/registry/locks.py); unset: one host's file lock.
LOCK_URL_ENV = "MLOPS_LOCK_URL"
DEFAULT_REPORTS_URL = "http://127.0.0.1:3001/"


@dataclass(frozen=True)
class Settings:
    home: Path
    environment: EnvironmentName
    data_dir: str | None
    tracking_uri: str
    registry_uri: str
    artifact_root: str
    lake_root: str
    # The tracking resource's own config when these settings came from an Environment (so a
    # consumer gets its retry bounds too); None: built from the three URIs above.
    tracking: TrackingConfig | None = None
    # Where `reports_dir` is served over http (`mlops-pipelines ui` serves it there): the UI
    # links reports, decision records and model cards under it, as a browser will not open a
    # file:// link from an http page.
    reports_url: str = DEFAULT_REPORTS_URL
    # Promotions from several hosts also serialise on an advisory lock in this PostgreSQL database.
    lock_url: str | None = None

    def tracking_config(self) -> TrackingConfig:
        from mlops_pipelines.lib.registry.session import TrackingConfig

        if self.tracking is not None:
            return self.tracking
        return TrackingConfig(
            self.tracking_uri, self.registry_uri, self.artifact_root, lock_url=self.lock_url
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def alerts_path(self) -> Path:
        return self.home / "alerts.jsonl"

    @property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    def table_uri(self, project: str, table: str) -> str:
        return f"{self.lake_root.rstrip('/')}/{project}/{table}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("MLOPS_HOME", ".mlops")).resolve()
    environment = environment_name(environ=env)
    tracking = env.get("MLOPS_TRACKING_URI") or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return Settings(
        home=home,
        environment=environment,
        data_dir=env.get(DATA_DIR_ENV) or None,
        tracking_uri=tracking,
        registry_uri=env.get("MLOPS_REGISTRY_URI") or tracking,
        artifact_root=env.get("MLOPS_ARTIFACT_ROOT") or str(home / "mlflow" / "artifacts"),
        lake_root=env.get("MLOPS_LAKE_ROOT") or str(home / "lake"),
        reports_url=env.get(REPORTS_URL_ENV) or DEFAULT_REPORTS_URL,
        lock_url=env.get(LOCK_URL_ENV) or None,
    )
