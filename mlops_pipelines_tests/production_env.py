"""The production environment's variables, set for one test (shared by the environment and CLI tests).

Every location is a temp path and the tracking server a closed loopback port, so nothing leaves
the machine; what a test checks is WHICH configuration each entry point ends up with.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def production_variables(root: Path) -> dict[str, str]:
    return {
        "MLOPS_ENV": "production",
        "MLOPS_HANDLES_DIR": str(root / "handles"),
        "MLOPS_DATA_DIR": str(root / "data"),
        "MLOPS_REPORTS_ROOT": str(root / "reports"),
        "MLOPS_LAKE_ROOT": "s3://prod-lake/tables",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "eu-west-1",
        "MLOPS_TRACKING_URI": f"http://127.0.0.1:{closed_port()}",
        "MLOPS_ARTIFACT_ROOT": "s3://prod-artifacts/mlflow",
        "MLOPS_LOCKS_DIR": str(root / "shared-locks"),
        "MLOPS_LOCK_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/mlops_locks",
        "MLFLOW_TRACKING_USERNAME": "mlops",
        "MLFLOW_TRACKING_PASSWORD": "test-password-0123",
        "MLOPS_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }


def use_production(monkeypatch: pytest.MonkeyPatch, root: Path) -> dict[str, str]:
    """Set every production variable (restored after the test); MLOPS_HOME is a temp dir too."""
    variables = production_variables(root)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLOPS_HOME", str(root / "home"))
    monkeypatch.delenv("MLOPS_REGISTRY_URI", raising=False)
    return variables
