"""Every setting of the stack, read from the environment when `stack_config` is called.

Defaults fit one machine with PostgreSQL, Redis and RabbitMQ on their standard loopback ports.
Spread over many hosts, the same variables point workers elsewhere at the same database,
broker and tracking server (README, "Deploy"). Each error names the variable to fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlops_pipelines.resources.environment import (
    ALERTS_FILE_VAR,
    CELERY_BACKEND_VAR,
    CELERY_BROKER_VAR,
    CELERY_PREFIX_VAR,
    EXECUTOR_VAR,
    LAKE_ROOT_VAR,
    TRACKING_PASSWORD_VAR,
    TRACKING_USERNAME_VAR,
)
from mlops_pipelines.settings import DATA_DIR_ENV, ENVIRONMENT_VAR, LOCK_URL_ENV

STATE_DIR_VAR = "MLOPS_STACK_DIR"
POSTGRES_VAR = "MLOPS_STACK_POSTGRES_URL"
DAGSTER_DB_VAR = "MLOPS_STACK_DAGSTER_DB"
MLFLOW_DB_VAR = "MLOPS_STACK_MLFLOW_DB"
HOST_VAR = "MLOPS_STACK_HOST"
WEBSERVER_PORT_VAR = "MLOPS_STACK_WEBSERVER_PORT"
MLFLOW_PORT_VAR = "MLOPS_STACK_MLFLOW_PORT"
# The code location's gRPC server: it launches the run workers, so they outlive a daemon crash.
CODE_SERVER_PORT_VAR = "MLOPS_STACK_CODE_SERVER_PORT"
MAX_RUNS_VAR = "MLOPS_STACK_MAX_RUNS"
# Processes in each queue's Celery worker pool (`celery worker --concurrency`): steps one worker
# runs at once. 1 by default: 2 cores fit PostgreSQL, MLflow, daemon, webserver and 2 workers.
WORKER_CONCURRENCY_VAR = "MLOPS_STACK_WORKER_CONCURRENCY"

DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
# MLflow's own rule for a basic-auth password, checked here so the error names our variable.
MIN_PASSWORD = 12
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class StackError(RuntimeError):
    """The stack cannot start or stop; the message names the setting or process to look at."""


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    postgres_url: str  # the server, without a database name
    dagster_db: str
    mlflow_db: str
    broker: str
    backend: str
    host: str
    webserver_port: int
    mlflow_port: int
    max_runs: int
    username: str
    password: str = field(repr=False)
    lake_root: str = ""
    data_dir: str | None = None
    worker_concurrency: int = 1
    code_server_port: int = 4000

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def celery_config_dir(self) -> Path:
        return self.state_dir / "celery"

    def database_url(self, name: str) -> str:
        return f"{self.postgres_url.rstrip('/')}/{name}"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.mlflow_port}"

    @property
    def webserver_url(self) -> str:
        return f"http://{self.host}:{self.webserver_port}"

    @property
    def key_prefix(self) -> str:
        """Celery's Redis key prefix: one per state directory, so stacks sharing a Redis stay apart."""
        return "mlops-" + hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10] + ":"

    def process_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment of every process the stack starts (and of a worker on another host)."""
        bin_dir = str(Path(sys.executable).parent)  # `celery` and `dagster-*` live beside python
        env = dict(base)
        env.update(
            {
                ENVIRONMENT_VAR: "production",
                EXECUTOR_VAR: "celery",
                CELERY_BROKER_VAR: self.broker,
                CELERY_BACKEND_VAR: self.backend,
                CELERY_PREFIX_VAR: self.key_prefix,
                "DAGSTER_HOME": str(self.dagster_home),
                "MLOPS_HOME": str(self.state_dir / "home"),
                "MLOPS_HANDLES_DIR": str(self.state_dir / "handles"),
                "MLOPS_REPORTS_ROOT": str(self.state_dir / "reports"),
                "MLOPS_LOCKS_DIR": str(self.state_dir / "locks"),
                # The file lock holds on one host; alias moves from every host also take an
                # advisory lock in the Dagster database, which every host already reaches.
                LOCK_URL_ENV: self.database_url(self.dagster_db),
                LAKE_ROOT_VAR: self.lake_root,
                "MLOPS_TRACKING_URI": self.tracking_uri,
                # Proxied: every host reaches artifacts through the tracking server, never a path.
                "MLOPS_ARTIFACT_ROOT": "mlflow-artifacts:/mlops",
                TRACKING_USERNAME_VAR: self.username,
                TRACKING_PASSWORD_VAR: self.password,
                "PATH": bin_dir + os.pathsep + base.get("PATH", ""),
                # The Celery worker's settings module (files.py writes it); the app imports it.
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(self.celery_config_dir), base.get("PYTHONPATH", "")) if p
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if not base.get("MLOPS_ALERT_WEBHOOK_URL"):
            env[ALERTS_FILE_VAR] = str(self.state_dir / "alerts.jsonl")
        # Production reads it through EnvVar; the simulator projects need none, so an empty dir will do.
        env[DATA_DIR_ENV] = self.data_dir or str(self.state_dir / "data")
        return env


def _required(environ: Mapping[str, str], name: str, why: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise StackError(f"{name} is not set (or empty): {why}")
    return value


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def _database_name(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name) or default
    if not _DB_NAME.match(value):
        raise StackError(f"{name}={value!r}: a database name is lower-case letters, digits and _")
    return value


def stack_config(
    state_dir: Path | None = None, environ: Mapping[str, str] | None = None, credentials: bool = True
) -> StackConfig:
    """The stack's settings from `environ` (default: the process environment, read now).
    `credentials=False` (status, down) does not ask for the MLflow admin credentials."""
    env = os.environ if environ is None else environ
    home = Path(env.get("MLOPS_HOME") or ".mlops")
    state = (state_dir or Path(env.get(STATE_DIR_VAR) or home / "stack")).resolve()
    postgres = env.get(POSTGRES_VAR) or DEFAULT_POSTGRES
    if not postgres.startswith("postgresql+psycopg2://") or urlsplit(postgres).path.strip("/"):
        raise StackError(
            f"{POSTGRES_VAR}={postgres!r}: give the server as postgresql+psycopg2://USER[:PASSWORD]@HOST:PORT "
            f"(no database name; {DAGSTER_DB_VAR} and {MLFLOW_DB_VAR} name the databases)"
        )
    broker = env.get(CELERY_BROKER_VAR) or DEFAULT_BROKER
    if urlsplit(broker).scheme not in ("redis", "amqp", "pyamqp"):
        raise StackError(f"{CELERY_BROKER_VAR}={broker!r}: the broker is redis://... or amqp://...")
    backend = env.get(CELERY_BACKEND_VAR) or (broker if broker.startswith("redis") else "rpc://")
    password = (
        _required(env, TRACKING_PASSWORD_VAR, "the MLflow admin password the stack creates and uses")
        if credentials
        else env.get(TRACKING_PASSWORD_VAR, "")
    )
    if credentials and len(password) < MIN_PASSWORD:
        raise StackError(
            f"{TRACKING_PASSWORD_VAR} is too short: MLflow needs at least {MIN_PASSWORD} characters"
        )
    max_runs = env.get(MAX_RUNS_VAR) or "2"
    if not max_runs.isdigit() or int(max_runs) < 1:
        raise StackError(f"{MAX_RUNS_VAR}={max_runs!r}: the number of runs at once is a whole number >= 1")
    concurrency = env.get(WORKER_CONCURRENCY_VAR) or "1"
    if not concurrency.isdigit() or int(concurrency) < 1:
        raise StackError(
            f"{WORKER_CONCURRENCY_VAR}={concurrency!r}: the processes per Celery worker is a whole number >= 1"
        )
    return StackConfig(
        state_dir=state,
        postgres_url=postgres,
        dagster_db=_database_name(env, DAGSTER_DB_VAR, "mlops_dagster"),
        mlflow_db=_database_name(env, MLFLOW_DB_VAR, "mlops_mlflow"),
        broker=broker,
        backend=backend,
        host=env.get(HOST_VAR) or "127.0.0.1",
        webserver_port=_port(env, WEBSERVER_PORT_VAR, 3000),
        mlflow_port=_port(env, MLFLOW_PORT_VAR, 5000),
        max_runs=int(max_runs),
        username=(
            _required(env, TRACKING_USERNAME_VAR, "the MLflow admin user the stack creates and uses")
            if credentials
            else env.get(TRACKING_USERNAME_VAR, "")
        ),
        password=password,
        lake_root=env.get(LAKE_ROOT_VAR) or str(state / "lake"),
        data_dir=env.get(DATA_DIR_ENV) or None,
        worker_concurrency=int(concurrency),
        code_server_port=_port(env, CODE_SERVER_PORT_VAR, 4000),
    )
