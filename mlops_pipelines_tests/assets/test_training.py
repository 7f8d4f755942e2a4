"""The model asset in real Dagster runs: trained on a pinned features version, tracked, registered."""

from __future__ import annotations

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.lib.registry.aliases import aliases
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.model_runs import meta, prepare_bike, retrain, small

MODEL_ONLY = [dg.AssetKey(["bike_sharing", names.MODEL])]


def test_model_is_trained_on_a_pinned_features_version_and_registered(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    bike = prepare_bike(specs, instance)
    result = retrain(bike, instance, asset_selection=MODEL_ONLY)
    assert result.success
    metadata = meta(result, names.MODEL)
    assert metadata["features_version"] >= 0
    assert metadata[names.META_MODEL_VERSION] == "1" and metadata[names.META_TRAIN_ROWS] > 200
    assert metadata[names.META_TRAIN_PARTITIONS] == "2011-01-06..2011-01-17 (12)"
    assert metadata[names.META_HOLDOUT_PARTITIONS] == "2011-01-18..2011-01-23 (6)"
    # About 130 rows in those 6 days, fewer than the gate's 200: the evaluation reaches further back.
    evaluated = metadata[names.META_EVALUATION_PARTITIONS]
    first, count = evaluated.split("..")[0], int(evaluated.split("(")[1].rstrip(")"))
    assert evaluated.startswith("2011-01-") and "..2011-01-23 (" in evaluated and first < "2011-01-18"
    assert 6 < count <= 12
    assert metadata[names.META_REASON] == "manual" and metadata["cv_mae"] > 0
    artifact = result.output_for_node(names.scoped("bike_sharing", names.MODEL))
    assert isinstance(artifact, ModelArtifact) and artifact.features_version == metadata["features_version"]
    cfg = LocalMlflowTracking().config()
    assert aliases(cfg, "bike_sharing") == {"challenger": "1"}
    with open_client(cfg) as client:
        tags = client.get_run(artifact.run_id).data.tags
    assert tags[names.ML_DAGSTER_RUN] == result.run_id
    assert tags[names.ML_DAGSTER_ASSET] == "bike_sharing/model"


def test_model_without_features_fails_naming_the_missing_table(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    result = retrain(small(specs["bike_sharing"]), instance, asset_selection=MODEL_ONLY)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None
    assert error.cause.cls_name == "TrainingWindowError"
    assert "bike_sharing: the features table does not exist yet" in error.cause.message
    assert aliases(LocalMlflowTracking().config(), "bike_sharing") == {}


def test_model_metadata_shows_the_window_lengths_tried_and_why(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    bike = prepare_bike(specs, instance)
    # The spec's 3 days against 12: the longer window wins every block, so the model learns 12.
    chooser = small(bike, window_partitions=3, window_choices=[12], window_choice_blocks=2)
    result = retrain(chooser, instance, asset_selection=MODEL_ONLY)
    assert result.success
    metadata = meta(result, names.MODEL)
    assert metadata[names.META_TRAIN_PARTITIONS] == "2011-01-06..2011-01-17 (12)"
    choice = metadata[names.META_WINDOW_CHOICE]
    assert choice["chosen_partitions"] == 12 and choice["spec_partitions"] == 3
    assert [c["partitions"] for c in choice["candidates"]] == [3, 12]
    assert choice["reason"].startswith("12 partitions instead of 3")


def test_model_metadata_has_no_window_choice_when_none_is_asked_for(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    bike = prepare_bike(specs, instance)
    result = retrain(bike, instance, asset_selection=MODEL_ONLY)
    assert result.success and names.META_WINDOW_CHOICE not in meta(result, names.MODEL)
