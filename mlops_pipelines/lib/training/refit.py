"""The go-live refit: the gate's winner fitted again on the whole window before it serves.

The challenger was judged on the evaluation partitions, so it never learned from them; serving
it as is would put a model online that is stale by the whole evaluation span (plus the label
delay). Once the gate says promote, the same hyperparameters are fitted (`fit.fit_pipeline`,
as the backtest fits) on train + evaluation partitions at the same features version and
as-of, logged as a run of its own and registered as a new version tagged `refit_of` = the
evaluated version. The promotion then aliases that version.

Lineage, so `reproduce` rebuilds a refit like any version: train partitions = the whole
window; holdout partitions = the evaluation partitions of the version it refits (inside its
training range: reproduce compares the artifact's predictions there, and a refit has no
holdout metrics, which reproduce notes); the CV of the one candidate on the whole window is
computed exactly as the search computes it (`cv_of`), so reproduce's pinned search matches it
to the bit. Cost: one fit plus `cv_folds` fits on the window.

Idempotent: a version already tagged `refit_of` = the evaluated version (a retried step) is
reused; one that registered but cannot load is retired, so a retry fits again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.training.artifact import ModelArtifact, RunContext, TrainingWindow

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec


class RefitError(RuntimeError):
    """The refit could not be registered as a loadable version; names the evaluated version."""


def cv_of(
    features: pd.DataFrame, target: pd.Series, spec: ProjectSpec, params: Mapping[str, Any]
) -> tuple[float, float]:
    """Mean and std of `params`' time-series CV score, computed as the search's GridSearchCV
    computes them for one candidate (same folds, scorer and averaging), in the metric's units."""
    import numpy as np
    from sklearn.model_selection import cross_validate
    from threadpoolctl import threadpool_limits

    from mlops_pipelines.lib.features import feature_kinds
    from mlops_pipelines.lib.metrics import cv_scorer, higher_is_better
    from mlops_pipelines.lib.training.readiness import cv_splits
    from mlops_pipelines.lib.training.search import build_pipeline

    metric = spec.training.primary_metric
    frame = features[list(feature_kinds(spec))]
    labels = target.astype("str") if spec.task.is_classification else target
    folds, problem = cv_splits(target, spec)  # the search's own splits, judgeable ones only
    if problem is not None:
        raise ValueError(problem)
    with threadpool_limits(limits=1):
        result = cross_validate(
            build_pipeline(spec, dict(params)),
            frame,
            labels,
            scoring=cv_scorer(spec, metric),
            cv=folds,
            n_jobs=1,
            error_score="raise",
        )
    scores = np.array(result["test_score"], dtype=np.float64).reshape(1, -1)
    means = np.average(scores, axis=1)
    stds = np.sqrt(np.average((scores - means[:, np.newaxis]) ** 2, axis=1))
    sign = 1.0 if higher_is_better(metric) else -1.0
    return sign * float(means[0]), float(stds[0])


def _params(spec: ProjectSpec, model: ModelArtifact) -> dict[str, Any]:
    training = spec.training
    return {
        **model.best_params,
        "family": training.family,
        "seed": model.seed,
        "cv_folds": training.cv_folds,
        "search_iterations": 1,  # no search: the evaluated version's best parameters, pinned
        "search_space": json.dumps({k: [v] for k, v in model.best_params.items()}, sort_keys=True),
        "primary_metric": model.primary_metric,
        "window_partitions": len(model.window.train) + len(model.window.holdout),
        "holdout_partitions": training.holdout_partitions,
        "refit_of": model.version,
    }


def existing_refit(tracking: TrackingConfig, project: str, version: str) -> ModelVersionRef | None:
    from mlops_pipelines.lib.registry.versions import find_versions

    found = find_versions(tracking, project, names.ML_REFIT_OF, version)
    return found[0] if found else None


def refit_challenger(
    spec: ProjectSpec,
    model: ModelArtifact,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    run_context: RunContext | None = None,
    repo_dir: Path | None = None,
) -> ModelVersionRef:
    """The registered, loadable refit of `model` on its whole window (an existing one is reused).

    Raises RefitError when the refit does not load back (it is retired first).
    """
    from mlops_pipelines.lib.registry.aliases import register_version, verify_loadable
    from mlops_pipelines.lib.registry.lookup import RETIRED_TAG
    from mlops_pipelines.lib.registry.provenance import collect_provenance
    from mlops_pipelines.lib.registry.tracking import log_training_run
    from mlops_pipelines.lib.registry.versions import set_version_tags
    from mlops_pipelines.lib.training.fit import fit_pipeline
    from mlops_pipelines.lib.training.stage import lineage_tags, package_repo_dir
    from mlops_pipelines.lib.training.window import split_features

    found = existing_refit(tracking, spec.name, model.version)
    if found is not None:
        return found
    window = TrainingWindow(
        train=(*model.window.train, *model.window.holdout),
        holdout=model.window.holdout,
        as_of=model.window.as_of,
    )
    rows = tables.read(spec.name, names.FEATURES, keys=list(window.train), version=model.features_version)
    labelled = split_features(rows, spec)
    del rows  # split_features made its own ordered copy: one window of rows, not two
    pipeline = fit_pipeline(labelled.features, labelled.target, spec, model.best_params)
    cv_mean, cv_std = cv_of(labelled.features, labelled.target, spec, model.best_params)
    tags = lineage_tags(
        spec,
        window,
        features_uri=model.features_uri,
        features_version=model.features_version,
        data_sha256=labelled.sha256,
        reason=f"refit of v{model.version} ({model.reason})",
        run_context=run_context,
    )
    tags[names.ML_REFIT_OF] = model.version
    tags[names.ML_BEST_PARAMS] = json.dumps(model.best_params, sort_keys=True)
    metric = model.primary_metric
    params = _params(spec, model)
    logged = log_training_run(
        tracking,
        spec.name,
        pipeline=pipeline,
        params=params,
        metrics={
            f"{names.META_CV_PREFIX}{metric}": cv_mean,
            f"{names.META_CV_PREFIX}{metric}_std": cv_std,
            "n_train_rows": float(len(labelled.features)),
        },
        cv_results=[{**model.best_params, f"mean_{metric}": cv_mean, f"std_{metric}": cv_std, "rank": 1}],
        figures={},
        input_example=labelled.features.head(5),
        task_is_classification=spec.task.is_classification,
        tags=tags,
        extra_json={"lineage": {**tags, "train": list(window.train), "holdout": list(window.holdout)}},
        provenance=collect_provenance(repo_dir or package_repo_dir()),
        run_name=f"{spec.name}-refit-v{model.version}-{window.as_of}",
    )
    ref = register_version(tracking, spec.name, logged, tags, alias=None)
    try:
        verify_loadable(tracking, spec.name, ref.version, produced_sha=logged.artifact_sha256)
    except Exception as err:  # any load failure: this version must never be found and reused
        set_version_tags(tracking, spec.name, ref.version, {RETIRED_TAG: "true"})
        raise RefitError(
            f"{spec.name}: refit v{ref.version} of v{model.version} does not load back "
            f"({type(err).__name__}: {err}); retired it"
        ) from err
    return ref
