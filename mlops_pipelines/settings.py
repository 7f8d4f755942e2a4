"""Where the system keeps its state, chosen in one place and read at call time (never at import).

Embedded defaults need no server: a Dagster SQLite instance, MLflow on SQLite with a local
artifact store, and Delta tables, all under one state directory (`MLOPS_HOME`, default
`./.mlops`). Production points the same fields at servers and object stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Environment = Literal["local", "production"]


@dataclass(frozen=True)
class Settings:
    home: Path
    environment: Environment
    data_dir: str | None
    tracking_uri: str
    registry_uri: str
    artifact_root: str
    lake_root: str

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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("MLOPS_HOME", ".mlops")).resolve()
    environment = env.get("MLOPS_ENV", "local")
    if environment not in ("local", "production"):
        raise ValueError(f"MLOPS_ENV must be 'local' or 'production', got {environment!r}")
    tracking = env.get("MLOPS_TRACKING_URI") or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return Settings(
        home=home,
        environment=environment,  # type: ignore[arg-type]
        data_dir=env.get("MLOPS_DATA_DIR") or None,
        tracking_uri=tracking,
        registry_uri=env.get("MLOPS_REGISTRY_URI") or tracking,
        artifact_root=env.get("MLOPS_ARTIFACT_ROOT") or str(home / "mlflow" / "artifacts"),
        lake_root=env.get("MLOPS_LAKE_ROOT") or str(home / "lake"),
    )
