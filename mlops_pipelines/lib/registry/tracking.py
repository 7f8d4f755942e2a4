"""Recording a training run in MLflow: params, metrics, figures, lineage and the model itself.

Everything but the model is validated and staged locally before the run is created, so bad
input fails without leaving a half-filled run; a failure after that marks the run FAILED.
The model itself goes through `model_logging` (saved, hashed, uploaded, re-hashed).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.registry.model_logging import ARTIFACT_SHA_TAG, log_model
from mlops_pipelines.lib.registry.session import (
    TrackingConfig,
    TrackingUnavailable,
    download_artifact_dir,
    is_unavailable,
    open_client,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.pipeline import Pipeline

    from mlops_pipelines.lib.registry.provenance import Provenance

__all__ = [
    "ARTIFACT_SHA_TAG",
    "ForeignArtifactLocationError",
    "LoggedModel",
    "TrackingConfig",
    "TrackingUnavailable",
    "download_artifact_dir",
    "ensure_experiment",
    "experiment_name",
    "log_evaluation",
    "log_training_run",
    "run_url",
]

log = logging.getLogger(__name__)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    experiment_id: str
    model_id: str
    model_uri: str  # models:/<model_id>
    artifact_location: str  # where the model files live; the registry's version source
    artifact_sha256: str
    run_url: str | None = None


def experiment_name(cfg: TrackingConfig, project: str) -> str:
    return f"{cfg.experiment_prefix}/{project}"


def _ensure_experiment(client: MlflowClient, cfg: TrackingConfig, project: str) -> str:
    from mlflow.exceptions import MlflowException

    name = experiment_name(cfg, project)
    location = f"{cfg.artifact_root.rstrip('/')}/{project}"
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException as err:
            # Another process created it between our read and our create.
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        log.warning("experiment %s was deleted; restoring it", name)
        client.restore_experiment(experiment.experiment_id)
    if _same_location(experiment.artifact_location) != _same_location(location):
        # Refused, not warned: models logged there would be loaded from wherever it points
        # (file:///etc, a metadata endpoint), outside the store this config trusts.
        raise ForeignArtifactLocationError(
            f"experiment {name} keeps its artifacts at {experiment.artifact_location!r}, not under the "
            f"configured artifact_root ({location!r}): refusing to use it; delete or rename the "
            "experiment, or set artifact_root to its location"
        )
    return str(experiment.experiment_id)


def _same_location(uri: str) -> str:
    """A location compared by its path: `file:///a/b/` and `/a/b` are the same place."""
    return uri.removeprefix("file://").rstrip("/")


class ForeignArtifactLocationError(ValueError):
    """The project's experiment stores artifacts outside the configured artifact_root."""


def ensure_experiment(cfg: TrackingConfig, project: str) -> str:
    """The project's experiment id, created with artifacts under `artifact_root/project`."""
    with open_client(cfg) as client:
        return _ensure_experiment(client, cfg, project)


def run_url(cfg: TrackingConfig, experiment_id: str, run_id: str) -> str | None:
    """A link into the MLflow UI for an http(s) tracking server; None for a local store."""
    if cfg.tracking_uri.startswith(("http://", "https://")):
        return f"{cfg.tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _artifact_file(kind: str, name: str, suffix: str) -> str:
    if not _ARTIFACT_NAME.match(name):
        raise ValueError(f"{kind} name {name!r}: use letters, digits, '_', '-', '.' (no paths)")
    return name if name.endswith(suffix) else f"{name}{suffix}"


def _stage_files(
    root: Path, figures: dict[str, bytes], json_artifacts: dict[str, Any], figure_dir: str = "figures"
) -> None:
    """Validate and write figures and JSON documents below `root`, before any run exists."""
    for name, png in figures.items():
        if not png.startswith(_PNG_MAGIC):
            raise ValueError(f"figure {name!r} is not PNG data (starts with {png[:8]!r})")
        target = root / figure_dir / _artifact_file("figure", name, ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)
    for name, document in json_artifacts.items():
        try:
            text = json.dumps(document, indent=2, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as err:
            raise ValueError(f"JSON artifact {name!r}: {err}") from err
        (root / _artifact_file("JSON artifact", name, ".json")).write_text(text, encoding="utf-8")


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, default=_json_default)
    return str(value)


def _log_values(
    client: MlflowClient, run_id: str, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str]
) -> None:
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    # One log_batch call takes at most 100 params + tags and 1000 metrics.
    params_list = [Param(k, _param_value(v)) for k, v in params.items()]
    for i in range(0, len(params_list), 100):
        client.log_batch(run_id, params=params_list[i : i + 100])
    tags_list = [RunTag(k, str(v)) for k, v in tags.items()]
    for i in range(0, len(tags_list), 100):
        client.log_batch(run_id, tags=tags_list[i : i + 100])
    metrics_list = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    for i in range(0, len(metrics_list), 1000):
        client.log_batch(run_id, metrics=metrics_list[i : i + 1000])


def log_training_run(
    cfg: TrackingConfig,
    project: str,
    *,
    pipeline: Pipeline,
    params: dict[str, Any],
    metrics: dict[str, float],
    cv_results: list[dict[str, Any]] | pd.DataFrame,
    figures: dict[str, bytes],
    input_example: pd.DataFrame,
    task_is_classification: bool,
    tags: dict[str, str],
    extra_json: dict[str, Any],
    provenance: Provenance,
    run_name: str | None = None,
) -> LoggedModel:
    """One finished MLflow run holding the fitted pipeline and everything needed to trust it.

    The signature is inferred from all rows of `input_example` (pass a few hundred so optional
    columns show their missing values); only its first rows are stored as the example.
    """
    import pandas as pd
    from mlflow.exceptions import MlflowException

    if input_example.empty:
        raise ValueError(f"{project}: input_example has no rows; the model signature needs some")
    cv_frame = cv_results if isinstance(cv_results, pd.DataFrame) else pd.DataFrame(list(cv_results))
    with tempfile.TemporaryDirectory(prefix="mlops-run-") as tmp:
        staged = Path(tmp)
        if "provenance" in extra_json:
            raise ValueError(f"{project}: extra_json key 'provenance' is reserved for the provenance record")
        documents = {**extra_json, "provenance": provenance.as_dict()}
        _stage_files(staged, figures, documents)
        cv_frame.to_csv(staged / "cv_results.csv", index=False)
        with open_client(cfg) as client:
            experiment_id = _ensure_experiment(client, cfg, project)
            run_tags = {
                **provenance.as_tags(),
                **{key: str(value) for key, value in tags.items()},
                names.ML_PROJECT: project,
                names.ML_KIND: "training",
            }
            if provenance.git_commit:
                run_tags["mlflow.source.git.commit"] = provenance.git_commit
            run = client.create_run(experiment_id, tags=run_tags, run_name=run_name)
            run_id = run.info.run_id
            try:
                _log_values(client, run_id, params, metrics, {})
                client.log_artifacts(run_id, str(staged))
                stored = log_model(
                    client, cfg, experiment_id, run_id, pipeline, input_example, task_is_classification
                )
                client.set_tag(run_id, ARTIFACT_SHA_TAG, stored.artifact_sha256)
                client.set_tag(run_id, names.ML_MODEL_ID, stored.model_id)
                client.set_terminated(run_id, "FINISHED")
            except BaseException as err:
                if not is_unavailable(err):
                    try:
                        client.set_terminated(run_id, "FAILED")
                    except MlflowException as mark_err:
                        err.add_note(f"marking run {run_id} FAILED also failed: {mark_err}")
                raise
    logged = LoggedModel(
        run_id=run_id,
        experiment_id=experiment_id,
        model_id=stored.model_id,
        model_uri=f"models:/{stored.model_id}",
        artifact_location=stored.artifact_location,
        artifact_sha256=stored.artifact_sha256,
        run_url=run_url(cfg, experiment_id, run_id),
    )
    log.info(
        "%s: logged run %s, model %s (sha256 %s)",
        project,
        run_id,
        stored.model_id,
        stored.artifact_sha256[:12],
    )
    return logged


def log_evaluation(
    cfg: TrackingConfig,
    run_id: str,
    metrics: dict[str, float],
    figures: dict[str, bytes],
    json_artifacts: dict[str, Any],
) -> None:
    """Add evaluation metrics, figures and JSON reports to an existing (training) run."""
    with tempfile.TemporaryDirectory(prefix="mlops-eval-") as tmp:
        staged = Path(tmp)
        _stage_files(staged, figures, json_artifacts)
        with open_client(cfg) as client:
            client.get_run(run_id)  # a wrong id fails here, before anything is written
            _log_values(client, run_id, {}, metrics, {names.ML_EVALUATED: "true"})
            client.log_artifacts(run_id, str(staged), "evaluation")
