"""The servers the stack expects to run already: PostgreSQL and the Celery broker.

Each is reached once, with a short timeout, before anything is written or started; a failure
is one StackError naming the variable that points at it. Databases are created when missing
and dropped only on request (`drop_databases`, for throw-away stacks such as tests).
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from mlops_pipelines.lib.registry.session import redact_uri as redact
from mlops_pipelines.resources.environment import CELERY_BROKER_VAR
from mlops_pipelines.stack.config import POSTGRES_VAR, StackConfig, StackError

CONNECT_TIMEOUT_SECONDS = 5


def _connect(config: StackConfig, database: str = "postgres") -> Any:
    import psycopg2

    parts = urlsplit(config.postgres_url)
    try:
        connection = psycopg2.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except psycopg2.Error as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StackError(
            f"PostgreSQL at {redact(config.postgres_url)} is unreachable or refused the login "
            f"(set {POSTGRES_VAR}): {first_line}"
        ) from err
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


def ensure_databases(config: StackConfig) -> list[str]:
    """Create the Dagster and MLflow databases when missing; returns the ones created."""
    created = []
    connection = _connect(config)
    try:
        with connection.cursor() as cursor:
            for name in (config.dagster_db, config.mlflow_db):
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    # The name was checked against [a-z_][a-z0-9_]* in config.py: safe to inline.
                    cursor.execute(f'CREATE DATABASE "{name}"')
                    created.append(name)
    finally:
        connection.close()
    return created


def drop_databases(config: StackConfig) -> None:
    """Drop both databases (a throw-away stack's `down --drop`); other sessions are ended first."""
    connection = _connect(config)
    try:
        with connection.cursor() as cursor:
            for name in (config.dagster_db, config.mlflow_db):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        connection.close()


def check_broker(config: StackConfig) -> None:
    """Reach the broker's port and, for Redis, get an answer to PING."""
    parts = urlsplit(config.broker)
    default_port = 6379 if parts.scheme == "redis" else 5672
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    where = f"the Celery broker {redact(config.broker)} (set {CELERY_BROKER_VAR})"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS) as sock:
            if parts.scheme == "redis":
                sock.sendall(b"PING\r\n")
                answer = sock.recv(64)
                # -NOAUTH still proves Redis is there; the worker's own login reports the rest.
                if not answer.startswith((b"+PONG", b"-NOAUTH")):
                    raise StackError(f"{where} answered {answer[:40]!r}, not Redis's PONG")
    except OSError as err:
        raise StackError(f"{where} is unreachable: {err}") from err
