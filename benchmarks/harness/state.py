"""Where the benchmarks' processes keep their state, and what they start from.

Paths of the repo, the real datasets and the results; the environment of a measured process
(its own MLOPS_HOME / DAGSTER_HOME, nothing pointing at anyone else's state); an existing
Dagster instance to start from; and slow setups built once and reused while the code that
shapes stored state is unchanged. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
REPO = BENCH_DIR.parent
DATA_DIR = REPO.parent / "shared" / "data"
RESULTS_DIR = BENCH_DIR / "results"
# Variables that would point a measured process at someone else's state.
_STATE_VARIABLES = (
    "MLOPS_HOME",
    "DAGSTER_HOME",
    "MLOPS_ENV",
    "MLOPS_PROJECTS_DIR",
    "MLOPS_TRACKING_URI",
    "MLOPS_REGISTRY_URI",
    "MLOPS_ARTIFACT_ROOT",
    "MLOPS_LAKE_ROOT",
    "MLOPS_DATA_DIR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    # Cached bytecode: a process that recompiles mlflow or GX on every start measures the compiler.
    "PYTHONDONTWRITEBYTECODE",
)
# Package parts that cannot change what a setup stored (tables, runs, models): editing them keeps caches.
_NOT_STATE = (
    "serving/",
    "cli.py",
    "demo.py",
    "reproduce.py",
    "lib/reproduction",
    "schedules.py",
    "sensors.py",
)


def python() -> str:
    return sys.executable


def note(text: str) -> None:
    """A progress line, on stderr: stdout carries what a measured process reports."""
    print(text, file=sys.stderr, flush=True)


def clean_env() -> dict[str, str]:
    """This environment without anything that points at existing state or disables bytecode."""
    env = {k: v for k, v in os.environ.items() if k not in _STATE_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def state_env(
    home: Path,
    data_dir: Path = DATA_DIR,
    extra: Mapping[str, str] | None = None,
    instance: Path | None = None,
) -> dict[str, str]:
    """The environment of a process that keeps all its state under `home` (an embedded setup).

    `instance`: a DAGSTER_HOME to start from (see `instance_template`), copied into the home.
    """
    env = clean_env()
    dagster_home = home / "dagster"
    if instance is not None:
        shutil.copytree(instance, dagster_home, dirs_exist_ok=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env.update(
        {
            "MLOPS_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "MLOPS_DATA_DIR": str(data_dir),
            "MLOPS_ENV": "local",
        }
    )
    env.update(extra or {})
    return env


_INSTANCE_WARM_UP = """
import dagster as dg

@dg.op
def noop() -> None:
    return None

@dg.job
def warm_up() -> None:
    noop()

with dg.DagsterInstance.get() as instance:
    result = warm_up.execute_in_process(instance=instance)
    instance.delete_run(result.run_id)
"""


def instance_template() -> Path:
    """A Dagster instance (SQLite) whose storage exists, as it does wherever runs are launched.

    Creating the schema of a brand-new instance costs its first process 1-2 s; a run launched
    by `dagster dev` or the daemon never pays it, so a measured run should not either.
    """
    dagster_home = fresh_dir("instance") / "dagster"
    state_env(dagster_home.parent)
    env = {**clean_env(), "DAGSTER_HOME": str(dagster_home)}
    subprocess.run([python(), "-c", _INSTANCE_WARM_UP], env=env, check=True, capture_output=True, cwd=REPO)
    return dagster_home


def source_fingerprint() -> str:
    """Hash of the code and specs that shape stored state: a setup built by other code is stale."""
    digest = hashlib.sha256()
    package = REPO / "mlops_pipelines"
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.yaml")]):
        if str(path.relative_to(package)).startswith(_NOT_STATE):
            continue
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_setup(
    name: str, key: Mapping[str, Any], build: Callable[[Path], dict[str, Any]], fresh: bool = False
) -> tuple[Path, dict[str, Any]]:
    """A state directory built once by `build(home)` and reused while `key` and the code are unchanged.

    Lives under benchmarks/results/cache/<name>/ (git-ignored); `marker.json` is written last,
    so a setup that failed half-way is rebuilt, never reused.
    """
    root = RESULTS_DIR / "cache" / name
    home = root / "home"
    marker = root / "marker.json"
    wanted = {**key, "code": source_fingerprint()}
    if not fresh and marker.is_file() and home.is_dir():
        stored = json.loads(marker.read_text(encoding="utf-8"))
        if stored.get("key") == wanted:
            note(f"setup: reusing {root.relative_to(REPO)} (built {stored.get('built_at')})")
            return home, stored.get("info", {})
    remove(root)
    home.mkdir(parents=True)
    note(f"setup: building {root.relative_to(REPO)} (untimed; cached for later runs)")
    started = time.perf_counter()
    info = build(home)
    info["setup_seconds"] = time.perf_counter() - started
    record = {"key": wanted, "info": info, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    marker.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return home, info


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mlops-bench-{prefix}-"))


def working_copy(home: Path, prefix: str) -> Path:
    """A throw-away copy of a cached state directory, so measurements never change the cache.

    MLflow keeps absolute artifact paths: the copy's registry still reads model artifacts from
    the cache, which nothing here writes.
    """
    target = fresh_dir(prefix) / "home"
    shutil.copytree(home, target)
    return target


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
