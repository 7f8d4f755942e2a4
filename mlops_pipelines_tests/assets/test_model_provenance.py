"""Case 35 (issue 15 item 4) and orphan reconciliation, over one real retrain in a Dagster instance.

A model loads only when a run recorded in the Dagster instance produced it and its bytes match
that run's record (run_records.DagsterLedger); serving asks the instance at DAGSTER_HOME. One
module-scoped state (data job + retrain, ~20 s) serves every test; the destructive one (bytes
changed after registration) runs on its own copy of a version.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import cli, names
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias, load_model
from mlops_pipelines.lib.registry.lookup import (
    ModelIntegrityError,
    ModelVersionRef,
    ProvenanceError,
    ProvenanceUnavailable,
)
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import ARTIFACT_SHA_TAG, ensure_experiment
from mlops_pipelines.resources.environment import environment_for
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.serving.source import RegistrySource
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.model_runs import prepare_bike, retrain

PROJECT = "bike_sharing"


@dataclass(frozen=True)
class Trained:
    home: Path
    instance: dg.DagsterInstance
    champion: ModelVersionRef
    orphan: str  # the MLflow run a failed Dagster run left RUNNING before the retrain
    failed_run: str


def _failed_dagster_run(instance: dg.DagsterInstance) -> str:
    @dg.op
    def dies() -> None:
        raise RuntimeError("the training step died")

    @dg.job
    def train_dies() -> None:
        dies()

    return train_dies.execute_in_process(instance=instance, raise_on_error=False).run_id


def _running_mlflow_run(dagster_run: str) -> str:
    cfg = LocalMlflowTracking().config()
    experiment = ensure_experiment(cfg, PROJECT)
    with open_client(cfg) as client:
        return str(client.create_run(experiment, tags={names.ML_DAGSTER_RUN: dagster_run}).info.run_id)


@pytest.fixture(scope="module")
def trained(
    specs: dict[str, ProjectSpec], shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trained]:
    home = tmp_path_factory.mktemp("provenance") / "mlops"
    (home / "dagster").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "MLOPS_HOME": home,
            "MLOPS_DATA_DIR": shared_data_dir,
            "DAGSTER_HOME": home / "dagster",
        }.items():
            env.setenv(name, str(value))
        env.delenv("MLOPS_ENV", raising=False)
        with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
            spec = prepare_bike(specs, instance)
            failed = _failed_dagster_run(instance)
            orphan = _running_mlflow_run(failed)
            assert retrain(spec, instance).success  # evaluation and the gate load through the ledger
            champion = get_alias(LocalMlflowTracking().config(), PROJECT, CHAMPION)
            assert champion is not None
            yield Trained(home, instance, champion, orphan, failed)


def _serving_source() -> RegistrySource:
    """The service's model source, configured as `serve` configures it (DAGSTER_HOME is set)."""
    return RegistrySource(environment_for("local").settings(), PROJECT)


def _register_copy(trained: Trained, version: ModelVersionRef) -> str:
    """A version registered directly in MLflow: a copy of `version`'s files and its sha256 tag."""
    cfg = LocalMlflowTracking().config()
    with open_client(cfg) as client:
        source = Path(client.get_model_version_download_uri(PROJECT, version.version).removeprefix("file://"))
        copy = trained.home / "forged" / f"copy-of-v{version.version}"
        shutil.copytree(source, copy)
        forged = client.create_model_version(
            PROJECT, str(copy), tags={ARTIFACT_SHA_TAG: str(version.artifact_sha256)}
        )
    return str(forged.version)


def test_case_35_a_version_produced_by_a_recorded_run_loads_in_serving(trained: Trained) -> None:
    loaded = _serving_source().load(trained.champion.version)
    assert (loaded.version, loaded.artifact_sha256) == (
        trained.champion.version,
        trained.champion.artifact_sha256,
    )
    # The challenger (recorded by the model materialization) loads too.
    assert load_model(LocalMlflowTracking().config(), PROJECT, "1").version == "1"


def test_case_35_a_version_registered_in_mlflow_with_a_copied_sha_tag_is_refused(trained: Trained) -> None:
    forged = _register_copy(trained, trained.champion)
    with pytest.raises(ProvenanceError) as refused:
        _serving_source().load(forged)
    message = str(refused.value)
    assert f"{PROJECT} version {forged}: no pipeline run in the Dagster instance at DAGSTER_HOME=" in message
    assert "registered outside the pipeline" in message
    # Without the ledger (a bare TrackingConfig) the same bytes pass the sha256 check: the tag
    # alone cannot tell a forged version from a produced one.
    bare = replace(LocalMlflowTracking().config(), ledger=None)
    assert load_model(bare, PROJECT, forged).artifact_sha256 == trained.champion.artifact_sha256


def test_case_35_bytes_changed_after_registration_are_refused(trained: Trained) -> None:
    cfg = LocalMlflowTracking().config()
    with open_client(cfg) as client:
        source = Path(client.get_model_version_download_uri(PROJECT, "1").removeprefix("file://"))
    [pickle] = list(source.rglob("model.pkl"))
    pickle.write_bytes(pickle.read_bytes()[:-10] + b"tampered!!")
    with pytest.raises(
        ModelIntegrityError, match=f"{PROJECT} version 1: artifact sha256 .* recorded by Dagster run"
    ):
        _serving_source().load("1")


def test_provenance_required_without_dagster_home_names_the_variable(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME")
    cfg = LocalMlflowTracking(provenance="required").config()
    with pytest.raises(ProvenanceUnavailable, match="DAGSTER_HOME is not set"):
        load_model(cfg, PROJECT, trained.champion.version)


def test_orphan_mlflow_run_of_a_failed_dagster_run_ends_failed_after_the_next_training_step(
    trained: Trained,
) -> None:
    cfg = LocalMlflowTracking().config()
    with open_client(cfg) as client:
        run = client.get_run(trained.orphan)
    assert run.info.status == "FAILED"
    assert run.data.tags[names.ML_ORPHAN_REASON] == (
        f"Dagster run {trained.failed_run} ended FAILURE while this run was RUNNING"
    )


def test_reconcile_command_ends_orphans_of_failed_runs(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan = _running_mlflow_run(_failed_dagster_run(trained.instance))
    assert cli.main(["reconcile", "--project", PROJECT]) == 0
    assert orphan in capsys.readouterr().out
    with open_client(LocalMlflowTracking().config()) as client:
        assert client.get_run(orphan).info.status == "FAILED"
    assert cli.main(["reconcile", "--project", PROJECT]) == 0  # nothing left: no error
