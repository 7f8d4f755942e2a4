"""Loading a registered model only after proving it is the one that was trained.

The version's artifact directory is downloaded to a private temporary directory, hashed with
the same `sha256_tree` used at training, compared with the version's `artifact_sha256` tag,
and only then unpickled, from that same copy: nothing can change between check and load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.integrity import sha256_tree
from mlops_pipelines.lib.registry.lookup import (
    LoadedModel,
    ModelIntegrityError,
    ModelLoadError,
    ModelVersionRef,
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


def _download_verified(
    client: MlflowClient, cfg: TrackingConfig, project: str, alias_or_version: str, dst: Path
) -> tuple[ModelVersionRef, Path]:
    from mlflow.exceptions import MlflowException

    ref = ref_of(resolve_version(client, project, alias_or_version))
    if not ref.artifact_sha256:
        raise ModelIntegrityError(
            f"{project} version {ref.version}: no {ARTIFACT_SHA_TAG} tag recorded at training; "
            "refusing to unpickle an unverifiable artifact"
        )
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
    if actual != ref.artifact_sha256:
        raise ModelIntegrityError(
            f"{project} version {ref.version}: artifact sha256 {actual} does not match "
            f"{ref.artifact_sha256} recorded at training; the files at {uri} changed"
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


def verify_loadable(cfg: TrackingConfig, project: str, version: str) -> None:
    """Raise unless the version passes the integrity check, loads, and predicts its stored example."""
    with open_client(cfg) as client, tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
        ref, local = _download_verified(client, cfg, project, str(version), Path(tmp))
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
