"""Shared ground for the model-stage tests (training, evaluation, promotion) without Dagster.

A real features table of bike_sharing (24 days of the real dataset through the data stage's
own stage functions into Delta tables), a fresh MLflow SQLite store per test, a report
directory, and the small and deliberately weak training sections the tests compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.stores import DeltaTables, ReportDir, SourceFiles
from mlops_pipelines.spec import ProjectSpec

FIRST_DAY = datetime(2011, 1, 1)
DAYS = 24  # 12 train + 6 holdout + the label delay, with room to spare


def small(spec: ProjectSpec, **training: Any) -> ProjectSpec:
    """A quick training section: 12 partitions, 6 held out, one candidate."""
    base = {
        "window_partitions": 12,
        "holdout_partitions": 6,
        "cv_folds": 3,
        "search_space": {"model__max_iter": [60], "model__learning_rate": [0.1]},
        "search_iterations": 1,
    }
    return spec.model_copy(update={"training": spec.training.model_copy(update={**base, **training})})


def weak(spec: ProjectSpec) -> ProjectSpec:
    """A deliberately worse model: linear, trained on only the last 3 partitions."""
    return small(spec, family="linear", window_partitions=3, search_space={})


def build_bike_features(spec: ProjectSpec, data_dir: Path, root: Path) -> DeltaTables:
    """raw -> validated -> features for the first DAYS days, by the data stage's functions."""
    from mlops_pipelines.lib.features import build_features_slice
    from mlops_pipelines.lib.ingestion.stage import ingest_partitions
    from mlops_pipelines.lib.validation.stage import validate_raw_slice

    tables = DeltaTables(str(root / "lake"))
    days = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    windows = {day.date().isoformat(): (day, day + timedelta(days=1)) for day in days}
    ingested = ingest_partitions(spec, windows, SourceFiles(str(data_dir), root / "cache"), tables)
    validated = validate_raw_slice(spec, ingested.raw, tables)
    build_features_slice(spec, validated.validated, tables)
    return tables


@pytest.fixture(scope="module")
def bike_spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return small(specs["bike_sharing"])


@pytest.fixture(scope="module")
def bike_tables(
    bike_spec: ProjectSpec, shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> DeltaTables:
    """Read-only for the tests: they train and evaluate from it, never write to it."""
    return build_bike_features(bike_spec, shared_data_dir, tmp_path_factory.mktemp("bike"))


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TrackingConfig]:
    """A fresh MLflow SQLite store; library code must never fall back to MLflow's global URI."""
    guard = tmp_path / "global-mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{guard}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path / "state")
    assert not guard.exists(), "library code used MLflow's global tracking URI"


@pytest.fixture
def reports(tmp_path: Path) -> ReportDir:
    return ReportDir(tmp_path / "reports")
