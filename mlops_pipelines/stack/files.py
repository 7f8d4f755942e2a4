"""The files `stack up` writes under the state directory: the production dagster.yaml, the
workspace, the Celery workers' settings module and MLflow's basic-auth configuration.

Written before any process starts, so every process (and a worker host given a copy) reads
the same configuration. Secrets never land in these files: the MLflow admin credentials reach
the server through its environment; a password in a database or broker URL is the one
exception, and those files are private to the user.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from mlops_pipelines import names, run_limits
from mlops_pipelines.stack.config import StackConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION_NAME = "mlops_pipelines"
CELERY_MODULE = "dagster_celery_config"  # the module name dagster_celery.app imports

# Run monitoring: a run not started in 3 minutes (its launcher died, a worker never came) or
# running past 2 hours, unless the run's `dagster/max_runtime` tag says otherwise, is failed,
# which frees its pool slots and lets the sensor retry under a new run key.
# The limits are run_limits' (the demo/ui instance uses the same, and the sensor's fallback).
CANCEL_TIMEOUT_SECONDS = 120


def dagster_config(config: StackConfig) -> dict[str, Any]:
    return {
        "telemetry": {"enabled": False},
        "storage": {"postgres": {"postgres_url": config.database_url(config.dagster_db)}},
        # The daemon dequeues runs within the limits below; a launched run's steps go to Celery.
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": config.max_runs,
                "tag_concurrency_limits": [
                    # One retrain or rollback per project at once: drift retrain and fallback
                    # schedule queue behind each other instead of racing for the champion.
                    {"key": names.SERIAL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                ],
            },
            # Promotion (and rollback) steps hold the `mlops_promotion` pool; commands.py sets its
            # limit to 1 explicitly. Any other pool defaults to 1 slot too.
            "pools": {"granularity": "op", "default_limit": 1},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": run_limits.START_TIMEOUT_SECONDS,
            "cancel_timeout_seconds": CANCEL_TIMEOUT_SECONDS,
            "max_runtime_seconds": run_limits.DEFAULT_MAX_RUNTIME_SECONDS,
            "poll_interval_seconds": run_limits.POLL_INTERVAL_SECONDS,
        },
        # A run whose worker died is retried once; a step that failed is its RetryPolicy's job.
        "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False},
        # No raw stdout capture: it spawns watcher processes per step (the demo's instance does the same).
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
    }


def workspace_config(config: StackConfig) -> dict[str, Any]:
    """The code location is the stack's own code server, not one the daemon or webserver spawns:
    run workers are the code server's children, so a crashed daemon does not take its in-flight
    runs down with it (as the Helm chart's user-code deployment does)."""
    return {
        "load_from": [
            {
                "grpc_server": {
                    "host": config.host,
                    "port": config.code_server_port,
                    "location_name": LOCATION_NAME,
                }
            }
        ]
    }


def celery_settings(config: StackConfig) -> str:
    """The settings module dagster_celery.app loads in each worker: the executor's own config
    (resources/environment.py), so workers and runs agree on broker, backend and key prefix."""
    transport = {"global_keyprefix": config.key_prefix}
    broker_options = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
    lines = [
        f"broker_url = {config.broker!r}",
        f"result_backend = {config.backend!r}",
        f"broker_transport_options = { ({**broker_options, **transport})!r}",
        f"result_backend_transport_options = {transport!r}",
        # Acknowledged on receipt (Celery's default, kept on purpose): a step whose worker died is
        # not redelivered into a run that run monitoring has already failed.
        "worker_prefetch_multiplier = 1",
    ]
    return "\n".join(lines) + "\n"


def auth_config(config: StackConfig) -> str:
    """MLflow's basic-auth ini: users in SQLite beside the server; the admin user comes from the
    server's environment (MLFLOW_AUTH_ADMIN_USERNAME / _PASSWORD), created on first start."""
    database = config.state_dir / "mlflow" / "basic_auth.db"
    return (
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{database}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def flask_secret_key(config: StackConfig) -> str:
    """The MLflow server's CSRF signing key: made once per state directory and kept (0600), so a
    restart does not invalidate sessions; MLFLOW_FLASK_SERVER_SECRET_KEY, when set, wins."""
    path = config.state_dir / "mlflow" / "flask_secret_key"
    if not path.is_file():
        _write(path, secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip()


def write_all(config: StackConfig) -> dict[str, Path]:
    """Write every configuration file; returns them by name."""
    for directory in (config.logs_dir, config.pids_dir, config.state_dir / "mlflow" / "artifacts"):
        directory.mkdir(parents=True, exist_ok=True)
    return {
        "dagster.yaml": _write(config.dagster_home / "dagster.yaml", yaml.safe_dump(dagster_config(config))),
        "workspace.yaml": _write(
            config.state_dir / "workspace.yaml", yaml.safe_dump(workspace_config(config))
        ),
        "celery": _write(config.celery_config_dir / f"{CELERY_MODULE}.py", celery_settings(config)),
        "auth": _write(config.state_dir / "mlflow" / "basic_auth.ini", auth_config(config)),
    }
