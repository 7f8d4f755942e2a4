"""train_challenger without Dagster: real bike_sharing features in Delta, MLflow on SQLite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.registry.aliases import aliases, get_version
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import RunContext
from mlops_pipelines.lib.training.stage import package_repo_dir, train_challenger
from mlops_pipelines.lib.training.window import TrainingWindowError
from mlops_pipelines.spec import ProjectSpec


def test_challenger_is_trained_on_the_pinned_version_logged_and_registered(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    context = RunContext("run-123", "bike_sharing/model")
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test", run_context=context)
    assert model.version == "1" and aliases(tracking, "bike_sharing") == {"challenger": "1"}
    assert model.features_version == bike_tables.version("bike_sharing", names.FEATURES)
    # 24 days, 1 unlabelled (label delay), 6 held out, the newest 12 of the rest for training.
    assert model.window.train == tuple(f"2011-01-{d:02d}" for d in range(6, 18))
    assert model.window.holdout == tuple(f"2011-01-{d:02d}" for d in range(18, 24))
    assert model.window.as_of == "2011-01-24" and model.reason == "test"
    assert model.n_train_rows > 200 and model.cv_score > 0 and model.primary_metric == "mae"
    version_tags = get_version(tracking, "bike_sharing", "1").tags
    assert version_tags[names.ML_TRAIN_PARTITIONS] == "2011-01-06..2011-01-17"
    assert version_tags[names.ML_FEATURES_VERSION] == str(model.features_version)
    with open_client(tracking) as client:
        run = client.get_run(model.run_id)
    assert run.data.tags[names.ML_DAGSTER_RUN] == "run-123"
    assert run.data.tags[names.ML_DAGSTER_ASSET] == "bike_sharing/model"
    assert run.data.params["window_partitions"] == "12"
    head = subprocess.run(
        ["git", "-C", str(package_repo_dir()), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert run.data.tags["provenance.git_commit"] == head  # provenance found the checkout itself


def test_without_a_run_context_no_orchestrator_tags_are_recorded(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    model = train_challenger(bike_spec, bike_tables, tracking, as_of="2011-01-22", reason="plain")
    assert names.ML_DAGSTER_RUN not in model.tags and model.tags[names.ML_REASON] == "plain"
    assert model.window.as_of == "2011-01-22" and model.window.holdout[-1] == "2011-01-21"


def test_missing_features_table_is_a_training_window_error(
    bike_spec: ProjectSpec, tmp_path: Path, tracking: TrackingConfig
) -> None:
    empty = DeltaTables(str(tmp_path / "empty-lake"))
    with pytest.raises(TrainingWindowError, match="features table does not exist yet"):
        train_challenger(bike_spec, empty, tracking, as_of=None, reason="test")
    assert aliases(tracking, "bike_sharing") == {}  # nothing registered


def test_too_few_labelled_partitions_names_the_counts(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    with pytest.raises(TrainingWindowError, match=r"4 labelled partition\(s\) at or before 2011-01-05"):
        train_challenger(bike_spec, bike_tables, tracking, as_of="2011-01-05", reason="test")


def test_repo_dir_is_the_package_checkout() -> None:
    assert (package_repo_dir() / "mlops_pipelines" / "names.py").is_file()
    assert not (package_repo_dir() / "names.py").exists()
