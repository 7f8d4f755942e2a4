"""Loading a registered model only after proving it is the one that was trained.

The version's artifact directory is downloaded to a private temporary directory, hashed with
the same `sha256_tree` used at training, compared with the version's `artifact_sha256` tag,
and only then unpickled, from that same copy: nothing can change between check and load.

With a ledger (`TrackingConfig.ledger`, see lib.registry.ledger) the version must also have been
produced by a recorded pipeline run, and the bytes are compared with the sha256 THAT run
recorded: a version registered by hand with a tag computed for its own bytes is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.integrity import sha256_tree
from mlops_pipelines.lib.registry.lookup import (
    PURGED_TAG,
    LoadedModel,
    ModelIntegrityError,
    ModelLoadError,
    ModelPurgedError,
    ModelVersionRef,
    ProvenanceError,
    ref_of,
    resolve_version,
)
from mlops_pipelines.lib.registry.model_logging import ARTIFACT_SHA_TAG
from mlops_pipelines.lib.registry.session import (
    TrackingConfig,
    download_artifact_dir,
    is_unavailable,
    open_client,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_pipelines.lib.registry.ledger import ProducedVersion, VersionLedger


def check_produced(ledger: VersionLedger, ref: ModelVersionRef) -> ProducedVersion:
    """The record of the run that produced `ref`; raises ProvenanceError naming what is missing."""
    record = ledger.produced(ref.name, ref.version)
    where = ledger.describe()
    if record is None:
        raise ProvenanceError(
            f"{ref.name} version {ref.version}: no pipeline run in {where} recorded producing it "
            f"(no model or champion materialization names version {ref.version}); it was registered "
            "outside the pipeline, so its sha256 tag proves nothing: refusing to load it"
        )
    if ref.run_id != record.mlflow_run_id:
        raise ProvenanceError(
            f"{ref.name} version {ref.version}: its MLflow run is {ref.run_id}, but Dagster run "
            f"{record.dagster_run_id} ({record.recorded_by}) recorded run {record.mlflow_run_id} "
            "for it: refusing to load it"
        )
    if ref.artifact_sha256 != record.artifact_sha256:
        raise ProvenanceError(
            f"{ref.name} version {ref.version}: its artifact_sha256 tag {ref.artifact_sha256} differs "
            f"from {record.artifact_sha256} recorded by Dagster run {record.dagster_run_id} "
            f"({record.recorded_by}): refusing to load it"
        )
    return record


def _download_verified(
    client: MlflowClient,
    cfg: TrackingConfig,
    project: str,
    alias_or_version: str,
    dst: Path,
    produced_sha: str | None = None,
) -> tuple[ModelVersionRef, Path]:
    from mlflow.exceptions import MlflowException

    ref = ref_of(resolve_version(client, project, alias_or_version))
    if PURGED_TAG in ref.tags:
        raise ModelPurgedError(
            f"{project} version {ref.version} is retired and its model files were purged by retention "
            f"at {ref.tags[PURGED_TAG]}; its record and lineage remain (`mlops-pipelines reproduce` "
            "rebuilds it from them)"
        )
    if not ref.artifact_sha256:
        raise ModelIntegrityError(
            f"{project} version {ref.version}: no {ARTIFACT_SHA_TAG} tag recorded at training; "
            "refusing to unpickle an unverifiable artifact"
        )
    expected, source = ref.artifact_sha256, "recorded at training"
    if produced_sha is not None:
        # This process produced the version moments ago (its run has recorded nothing yet): the
        # sha256 it computed itself is the authority.
        expected, source = produced_sha, "computed when this step logged it"
    elif cfg.ledger is not None:
        record = check_produced(cfg.ledger, ref)
        expected, source = record.artifact_sha256, f"recorded by Dagster run {record.dagster_run_id}"
    uri = client.get_model_version_download_uri(project, ref.version)
    try:
        local = download_artifact_dir(cfg, uri, dst)
    except (MlflowException, OSError) as err:
        if is_unavailable(err):
            raise
        raise ModelIntegrityError(
            f"{project} version {ref.version}: model artifact missing or unreadable at {uri}: {err}"
        ) from err
    actual = sha256_tree(local)
    if actual != expected:
        raise ModelIntegrityError(
            f"{project} version {ref.version}: artifact sha256 {actual} does not match "
            f"{expected} {source}; the files at {uri} changed"
        )
    return ref, local


def _pyfunc(ref: ModelVersionRef, local: Path) -> Any:
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.load_model(str(local))
    except Exception as err:
        raise ModelLoadError(
            f"{ref.name} version {ref.version}: pyfunc cannot load the model: {type(err).__name__}: {err}"
        ) from err


def load_model(cfg: TrackingConfig, project: str, alias_or_version: str) -> LoadedModel:
    """Download, verify the sha256 recorded at training, then load with pyfunc."""
    with open_client(cfg) as client, tempfile.TemporaryDirectory(prefix="mlops-load-") as tmp:
        ref, local = _download_verified(client, cfg, project, str(alias_or_version), Path(tmp))
        model = _pyfunc(ref, local)
        example = _input_example(local)
    return LoadedModel(
        model=model,
        name=ref.name,
        version=ref.version,
        run_id=ref.run_id,
        artifact_sha256=str(ref.artifact_sha256),
        input_example=example,
    )


def _input_example(local: Path) -> Any:
    """The input example logged with the model (a feature frame), or None when none was logged."""
    from mlflow.models import Model

    return Model.load(str(local)).load_input_example(str(local))


def verify_loadable(cfg: TrackingConfig, project: str, version: str, produced_sha: str | None = None) -> None:
    """Raise unless the version passes the integrity check, loads, and predicts its stored example.

    `produced_sha`: the sha256 this process computed when it logged the version (a step checking
    what it just registered); it replaces the ledger's record, which the step writes only at its end.
    """
    with open_client(cfg) as client, tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
        ref, local = _download_verified(client, cfg, project, str(version), Path(tmp), produced_sha)
        model = _pyfunc(ref, local)
        example = _input_example(local)
        if example is None:
            raise ModelLoadError(f"{project} version {ref.version}: no input example stored to test with")
        try:
            predictions = model.predict(example)
        except Exception as err:
            raise ModelLoadError(
                f"{project} version {ref.version}: predicting the stored input example failed: "
                f"{type(err).__name__}: {err}"
            ) from err
        if len(predictions) != len(example):
            raise ModelLoadError(
                f"{project} version {ref.version}: {len(predictions)} predictions for {len(example)} rows"
            )
