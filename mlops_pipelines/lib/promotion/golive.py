"""Going live after a `promote` verdict: the version that will serve, and what it carries.

With `promotion.refit` (the default) the winner is refit on the whole window
(`training.refit`) and that new version goes live; without it the evaluated version itself
does. Either way the serving version is tagged with the evidence monitoring reads back through
its `ChampionRef` (and a rollback restores with it): the metric and the challenger's pooled
out-of-sample level of it, on how many rows, with its bootstrap standard error, the evaluated
partitions, and the label-free performance estimator fitted on those same out-of-sample
predictions, pickled beside the version and pinned by sha256. A reference too small to fit an
estimator leaves the estimator out (a note in the decision), never the promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.backtest import EvaluationRows
    from mlops_pipelines.lib.evaluation.holdout import Evaluation
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.promotion.decision import DecisionRecord
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import ModelArtifact, RunContext
    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class GoLive:
    version: str  # the version that will serve (the refit, or the evaluated version itself)
    decision: DecisionRecord  # the gate's decision naming that version, with any estimator note


def bootstrap_noise(pred: Predictions, metric: str, samples: int, seed: int) -> float | None:
    """Bootstrap standard error of `metric` on `pred` (None when it is undefined on most resamples)."""
    from mlops_pipelines.lib.promotion.bootstrap import resample_weights, weighted_metric

    values = np.concatenate(
        [weighted_metric(metric, pred, w) for w in resample_weights(len(pred.y_true), samples, seed)]
    )
    kept = values[np.isfinite(values)]
    if len(kept) < max(2, samples // 2):
        return None
    return float(np.std(kept, ddof=1))


def evidence_tags(
    spec: ProjectSpec, evaluated: Evaluation, rows: EvaluationRows, partitions: tuple[str, ...]
) -> dict[str, str]:
    """The evaluated level the serving version carries (absent values are left untagged)."""
    metric = spec.training.primary_metric
    score = evaluated.metrics.get(metric)
    noise = bootstrap_noise(
        evaluated.predictions, metric, spec.promotion.bootstrap_samples, spec.training.seed
    )
    tags = {
        names.ML_EVALUATED_METRIC: metric,
        names.ML_EVALUATED_ROWS: str(len(rows)),
        names.ML_EVALUATED_PARTITIONS: f"{partitions[0]}..{partitions[-1]}",
    }
    if score is not None:
        tags[names.ML_EVALUATED_SCORE] = repr(float(score))
    if noise is not None:
        tags[names.ML_EVALUATED_NOISE] = repr(noise)
    return tags


def estimator_tags(
    spec: ProjectSpec, evaluated: Evaluation, rows: EvaluationRows, tracking: TrackingConfig, run_id: str
) -> tuple[dict[str, str], str | None]:
    """Fit, store and pin the performance estimator; ({}, why) when the reference cannot fit one."""
    from mlops_pipelines.lib.monitoring.estimation import EstimationError, ReferencePredictions, fit_estimator
    from mlops_pipelines.lib.registry.estimators import store_estimator

    reference = ReferencePredictions.from_predictions(rows.labelled.features, evaluated.predictions)
    try:
        estimator = fit_estimator(spec.task, spec.training.primary_metric, reference, seed=spec.training.seed)
    except EstimationError as err:
        return {}, f"no performance estimator: {err}"
    stored = store_estimator(tracking, run_id, estimator)
    return {names.ML_ESTIMATOR_URI: stored.uri, names.ML_ESTIMATOR_SHA: stored.sha256}, None


def go_live(
    spec: ProjectSpec,
    model: ModelArtifact,
    decision: DecisionRecord,
    evaluated: Evaluation,
    rows: EvaluationRows,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    run_context: RunContext | None = None,
) -> GoLive:
    """The serving version for a promoted `model`, registered (refit) and tagged; idempotent."""
    from mlops_pipelines.lib.registry.aliases import get_version
    from mlops_pipelines.lib.registry.versions import set_version_tags
    from mlops_pipelines.lib.training.refit import refit_challenger

    partitions = tuple(decision.evaluated_partitions) or model.window.holdout
    if spec.promotion.refit:
        live = refit_challenger(spec, model, tables, tracking, run_context=run_context)
    else:
        live = get_version(tracking, spec.name, model.version)
    tags = evidence_tags(spec, evaluated, rows, partitions)
    notes: list[str] = []
    if names.ML_ESTIMATOR_SHA in live.tags:  # a retried step: the estimator is stored already
        tags.update({k: live.tags[k] for k in (names.ML_ESTIMATOR_URI, names.ML_ESTIMATOR_SHA)})
    else:
        pinned, note = estimator_tags(spec, evaluated, rows, tracking, str(live.run_id or model.run_id))
        tags.update(pinned)
        notes += [note] if note is not None else []
    set_version_tags(tracking, spec.name, live.version, tags)
    refit = live.version if live.version != model.version else None
    if refit is not None:
        window = model.window
        notes.append(
            f"live as v{refit}: refit of v{model.version} on the whole window "
            f"{window.train[0]}..{window.holdout[-1]} (as of {window.as_of})"
        )
    update = {"refit_version": refit, "reasons": [*decision.reasons, *notes]}
    return GoLive(live.version, decision.model_copy(update=update))
