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
from mlops_pipelines_tests.lib.model_support import small


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


def test_a_window_length_proven_better_is_trained_on_and_recorded(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    # A 3-day window of hourly rentals against 12 days: the longer one wins every block clearly.
    spec = small(bike_spec, window_partitions=3, window_choices=[12], window_choice_blocks=2)
    model = train_challenger(spec, bike_tables, tracking, as_of=None, reason="test")
    assert model.window_choice is not None and model.window_choice["chosen_partitions"] == 12
    assert model.window.train == tuple(f"2011-01-{d:02d}" for d in range(6, 18))  # 12, not 3
    assert model.window.holdout == tuple(f"2011-01-{d:02d}" for d in range(18, 24))
    tried = {c["partitions"]: c for c in model.window_choice["candidates"]}
    assert set(tried) == {3, 12} and tried[12]["better_on_every_block"] is True
    version_tags = get_version(tracking, "bike_sharing", model.version).tags
    assert version_tags[names.ML_TRAIN_PARTITIONS] == "2011-01-06..2011-01-17"
    assert version_tags[names.ML_WINDOW_CHOICE].startswith("12 partitions instead of 3")
    with open_client(tracking) as client:
        document = client.download_artifacts(model.run_id, "window_choice.json")
    assert '"chosen_partitions": 12' in Path(document).read_text()


def test_without_proof_the_spec_window_is_kept_and_the_attempt_recorded(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    # Three blocks of 6 days need 21 labelled days for the oldest to have a training minimum
    # (3) before it: as of 2011-01-20 only 19 are labelled, so nothing is compared and the spec's window serves.
    spec = small(bike_spec, window_choices=[24])
    model = train_challenger(spec, bike_tables, tracking, as_of="2011-01-20", reason="test")
    assert model.window_choice is not None and model.window_choice["chosen_partitions"] == 12
    assert "too few to compare" in model.window_choice["reason"]
    assert model.window.train == tuple(f"2011-01-{d:02d}" for d in range(2, 14))  # the spec's 12
    version_tags = get_version(tracking, "bike_sharing", model.version).tags
    assert "too few to compare" in version_tags[names.ML_WINDOW_CHOICE]
