"""The training stage: one challenger from a pinned features version, tracked and registered.

`train_challenger` is everything the `model` asset does, without Dagster: pin the features
table's current version (everything below reads exactly it), select the training window,
fit with the spec's search, log the run to MLflow and register the version as `challenger`.
The benchmarks' plain path calls the same function, so the asset and the benchmark cannot
drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.training.artifact import ModelArtifact, RunContext, TrainingWindow
from mlops_pipelines.lib.training.window import TrainingWindowError

if TYPE_CHECKING:
    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.search import TrainedPipeline
    from mlops_pipelines.lib.training.window_choice import WindowChoice
    from mlops_pipelines.spec import ProjectSpec


def package_repo_dir() -> Path:
    """The checkout the package runs from (provenance reads its git commit and lock file).

    Found from the package root, not from this module's depth, so moving a module inside the
    package never points provenance at the wrong directory.
    """
    import mlops_pipelines

    return Path(mlops_pipelines.__file__).resolve().parent.parent


def lineage_tags(
    spec: ProjectSpec,
    window: TrainingWindow,
    *,
    features_uri: str,
    features_version: int,
    data_sha256: str,
    reason: str,
    run_context: RunContext | None,
) -> dict[str, str]:
    """The MLflow run and model-version tags that name what a model was built from."""
    tags = {}
    if run_context is not None:
        tags[names.ML_DAGSTER_RUN] = run_context.run_id
        tags[names.ML_DAGSTER_ASSET] = run_context.asset_key
    return {
        **tags,
        names.ML_PROJECT: spec.name,
        names.ML_REASON: reason,
        names.ML_FEATURES_URI: features_uri,
        names.ML_FEATURES_VERSION: str(features_version),
        names.ML_TRAIN_PARTITIONS: window.train_range,
        names.ML_HOLDOUT_PARTITIONS: window.holdout_range,
        names.ML_EVALUATION_PARTITIONS: window.evaluated_range,
        names.ML_AS_OF: window.as_of,
        names.ML_DATA_SHA: data_sha256,
        names.ML_SEED: str(spec.training.seed),
    }


def run_params(spec: ProjectSpec, trained: TrainedPipeline) -> dict[str, Any]:
    """The chosen hyperparameters plus the whole training section of the spec, so `reproduce`
    never has to trust the current spec."""
    return {
        **trained.best_params,
        "family": spec.training.family,
        "seed": spec.training.seed,
        "cv_folds": spec.training.cv_folds,
        "search_iterations": spec.training.search_iterations,
        "search_space": json.dumps(spec.training.search_space, sort_keys=True),
        "primary_metric": spec.training.primary_metric,
        "window_partitions": spec.training.window_partitions,
        "holdout_partitions": spec.training.holdout_partitions,
    }


def run_metrics(trained: TrainedPipeline) -> dict[str, float]:
    best = trained.cv_results.best
    return {
        f"{names.META_CV_PREFIX}{trained.primary_metric}": best.mean_score,
        f"{names.META_CV_PREFIX}{trained.primary_metric}_std": best.std_score,
        "n_train_rows": float(trained.n_train_rows),
        "training_seconds": trained.training_seconds,
    }


def choose_length(
    spec: ProjectSpec, tables: TableStore, version: int, labelled: list[str], params: dict[str, Any]
) -> WindowChoice:
    """`window_choice.choose_from_rows` over the newest partitions a choice needs, read once."""
    from mlops_pipelines.lib.training.window_choice import choose_from_rows, window_reach

    reach = labelled[-window_reach(spec) :]
    rows = tables.read(spec.name, names.FEATURES, keys=reach, version=version)
    return choose_from_rows(spec, reach, rows, params)


def train_challenger(
    spec: ProjectSpec,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    as_of: str | None,
    reason: str,
    run_context: RunContext | None = None,
    repo_dir: Path | None = None,
) -> ModelArtifact:
    """Train on the window ending at `as_of` (default: the newest features partition), log the run
    and register the version as `challenger`. An identical training whose version no gate has
    judged yet (a retried run) is handed on again instead of registering a duplicate (`reuse`).

    Raises TrainingWindowError when the features table does not exist or holds too few
    labelled partitions. `repo_dir` is the checkout provenance records (default: the one the
    package runs from).
    """
    from mlops_pipelines.lib.registry.aliases import register_challenger
    from mlops_pipelines.lib.registry.provenance import collect_provenance
    from mlops_pipelines.lib.registry.tracking import log_training_run
    from mlops_pipelines.lib.training.reuse import reused_artifact, training_key, undecided_version
    from mlops_pipelines.lib.training.search import train_model
    from mlops_pipelines.lib.training.window import labelled_partitions, select_window, split_features
    from mlops_pipelines.lib.training.window_choice import choice_json

    version = tables.version(spec.name, names.FEATURES)
    if version < 0:
        raise TrainingWindowError(
            f"{spec.name}: the features table does not exist yet; materialize features first"
        )
    keys = tables.partitions(spec.name, names.FEATURES, version)
    # Rows per partition (from the Delta log, no data read): small partitions extend the holdout.
    piece = TableSlice(
        f"{spec.name}/{names.FEATURES}", tables.uri(spec.name, names.FEATURES), version, tuple(keys), -1
    )
    sizes = tables.slice_rows(piece)
    window = select_window(keys, spec, as_of, rows=sizes)
    rows = tables.read(spec.name, names.FEATURES, keys=list(window.train), version=version)
    labelled = split_features(rows, spec)
    del rows  # split_features made its own ordered copy: one window of rows, not two
    trained: TrainedPipeline | None = None
    choice = None
    if spec.training.window_choices:  # opt-in: try other window lengths with the searched parameters
        trained = train_model(labelled.features, labelled.target, spec, event_time=labelled.event_time)
        choice = choose_length(
            spec, tables, version, labelled_partitions(keys, spec, as_of), trained.best_params
        )
        if choice.changed:
            window = select_window(keys, spec, as_of, rows=sizes, length=choice.partitions)
            rows = tables.read(spec.name, names.FEATURES, keys=list(window.train), version=version)
            labelled, trained = split_features(rows, spec), None
            del rows
    features_uri = tables.uri(spec.name, names.FEATURES)
    provenance = collect_provenance(repo_dir or package_repo_dir())
    key = training_key(
        spec,
        window,
        features_uri=features_uri,
        features_version=version,
        data_sha256=labelled.sha256,
        provenance=provenance,
    )
    done = undecided_version(tracking, spec.name, key)
    if done is not None:  # a retried run: the same rows, spec and code were trained already
        return reused_artifact(spec, tracking, done, window)
    if trained is None:
        trained = train_model(labelled.features, labelled.target, spec, event_time=labelled.event_time)
    tags = lineage_tags(
        spec,
        window,
        features_uri=features_uri,
        features_version=version,
        data_sha256=labelled.sha256,
        reason=reason,
        run_context=run_context,
    )
    tags[names.ML_TRAINING_KEY] = key
    tags[names.ML_BEST_PARAMS] = json.dumps(trained.best_params, sort_keys=True)
    if choice is not None:
        tags[names.ML_WINDOW_CHOICE] = choice.reason
    logged = log_training_run(
        tracking,
        spec.name,
        pipeline=trained.pipeline,
        params=run_params(spec, trained),
        metrics=run_metrics(trained),
        cv_results=trained.cv_results.records(),
        figures={},
        input_example=labelled.features.head(5),
        task_is_classification=spec.task.is_classification,
        tags=tags,
        extra_json={
            "lineage": {**tags, "train": list(window.train), "holdout": list(window.holdout)},
            **({"window_choice": choice_json(choice)} if choice is not None else {}),
        },
        provenance=provenance,
        run_name=f"{spec.name}-{reason}-{window.as_of}",
    )
    ref = register_challenger(tracking, spec.name, logged, tags)
    return ModelArtifact(
        project=spec.name,
        version=ref.version,
        run_id=logged.run_id,
        model_uri=f"models:/{spec.name}/{ref.version}",
        artifact_sha256=logged.artifact_sha256,
        features_uri=features_uri,
        features_version=version,
        window=window,
        best_params=dict(trained.best_params),
        seed=spec.training.seed,
        primary_metric=trained.primary_metric,
        cv_score=trained.cv_results.best.mean_score,
        data_sha256=labelled.sha256,
        n_train_rows=trained.n_train_rows,
        reason=reason,
        run_url=logged.run_url,
        tags=tags,
        window_choice=None if choice is None else choice_json(choice),
    )
