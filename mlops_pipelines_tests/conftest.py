"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_pipelines.spec import ProjectSpec, load_specs

# CI clones the repo with `shared/` beside it; the real datasets are never copied into the repo.
SHARED_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets its own state directory below the given one: tests that
    use the default MLOPS_HOME / DAGSTER_HOME (CLI tests, the demo) must not share an instance."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    home = Path(os.environ.get("MLOPS_HOME", ".mlops")).resolve() / f"xdist-{worker}"
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    os.environ["MLOPS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real datasets (bike_sharing, adult, wine_quality). Missing data fails, never skips."""
    if not (SHARED_DATA_DIR / "bike_sharing" / "hour.csv").is_file():
        pytest.fail(f"real datasets not found at {SHARED_DATA_DIR}: shared/ must sit beside the repo")
    return SHARED_DATA_DIR


@pytest.fixture(scope="session")
def specs() -> dict[str, ProjectSpec]:
    """Every packaged example project spec, by name."""
    return load_specs()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a test marked `slow` first, each file's tests in their own order: `--dist
    loadfile` hands files to workers in collection order as they free up, so the long ones start
    at the beginning and the many short ones fill the gaps, instead of one long file starting
    last and running alone at the end (it added about 5 minutes to CI)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture
def own_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLOPS_HOME and DAGSTER_HOME for a user's own spec file (no packaged data or
    projects directory, no cached source); returns MLOPS_HOME."""
    from mlops_pipelines.lib.ingestion.sources import clear_source_cache

    for name in ("MLOPS_HOME", "DAGSTER_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "state" / name.lower()))
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)
    monkeypatch.delenv("MLOPS_PROJECTS_DIR", raising=False)
    clear_source_cache()
    return tmp_path / "state" / "mlops_home"
