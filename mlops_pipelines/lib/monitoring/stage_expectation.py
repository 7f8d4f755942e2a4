"""What the champion is expected to reach on rows whose labels have not arrived: its estimator.

Both monitoring stages need the champion's fitted `PerformanceEstimator` (CBPE or DLE,
`lib.monitoring.estimation`) and the level it reached on its own out-of-sample evaluation:
drift judges the label-free estimate of every monitored window against that level, and
performance judges realized metrics against the estimate for the very same rows (a window of
harder rows is expected to score worse; only a gap beyond that expectation is degradation).

`champion_expectation` loads the estimator once per run, by the URI and sha256 the
`ChampionRef` pins. A champion without one (none yet, or registered before estimators existed)
has no expectation: its estimated verdicts are None with the reason, never "fine".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_pipelines.lib.metrics import Predictions as LabelledPredictions
    from mlops_pipelines.lib.monitoring.estimation import Estimate, PerformanceEstimator
    from mlops_pipelines.lib.monitoring.signals import PerformanceCheck
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.scoring.prediction_log import Predictions
    from mlops_pipelines.spec import ProjectSpec, RetrainingSpec, Task


class ExpectationError(ValueError):
    """The champion's estimator cannot be used as pinned; the message names the version and why."""


class EstimatorLoader(Protocol):
    """Loads a pinned estimator artifact and checks its sha256 (the registry's `load_estimator`)."""

    def __call__(self, tracking: TrackingConfig, uri: str, sha256: str) -> PerformanceEstimator: ...


def registry_estimator(tracking: TrackingConfig, uri: str, sha256: str) -> PerformanceEstimator:
    """The estimator stored beside a registered version (download, verify the sha256, unpickle)."""
    from mlops_pipelines.lib.registry.estimators import load_estimator

    return load_estimator(tracking, uri, sha256)


@dataclass(frozen=True)
class Signal:
    """A window's estimated performance as a row carries it."""

    value: float | None  # the estimate; None: not estimable here, or no estimator
    degraded: bool | None  # None: no verdict (too few rows, no baseline, no estimator)
    reason: str  # why the verdict is what it is


@dataclass(frozen=True)
class Expectation:
    """The champion's estimator and its evaluated level of the estimator's metric."""

    version: str  # the champion version the estimator was fitted for
    estimator: PerformanceEstimator
    evaluated: float | None  # None: the champion records no level of this metric
    evaluated_rows: int | None  # rows that level was measured on
    evaluated_noise: float | None  # its bootstrap standard error, metric units

    @property
    def metric(self) -> str:
        return self.estimator.metric

    def judge(self, estimate: Estimate, retraining: RetrainingSpec) -> PerformanceCheck:
        """The estimated verdict on one window against the evaluated level; the estimator's
        caveat (extrapolation, raw scores) rides along in the reason."""
        from mlops_pipelines.lib.monitoring.signals import estimate_noise, estimated_check

        check = estimated_check(
            estimate.value,
            estimate.n_rows,
            self.metric,
            evaluated=self.evaluated,
            noise=estimate_noise(self.evaluated_noise, self.evaluated_rows, estimate.n_rows, estimate.noise),
            margin=retraining.performance_margin,
            z=retraining.performance_z,
            min_rows=retraining.performance_min_rows,
        )
        return replace(check, reason=with_caveat(check.reason, estimate.reason))

    def signal(self, estimate: Estimate, retraining: RetrainingSpec) -> Signal:
        """The estimate and its verdict; the value is kept even when too few rows give no verdict."""
        check = self.judge(estimate, retraining)
        return Signal(estimate.value, check.degraded, check.reason)


def with_caveat(reason: str, caveat: str | None) -> str:
    return reason if not caveat else f"{reason}; {caveat}"


def no_expectation(champion: ChampionRef | None) -> str:
    """Why there is no estimate: the reason a row carries instead of a verdict."""
    if champion is None or champion.version is None:
        return "no estimate: no champion yet"
    return f"no estimate: champion v{champion.version} has no performance estimator"


def no_signal(champion: ChampionRef | None) -> Signal:
    return Signal(None, None, no_expectation(champion))


def champion_expectation(
    champion: ChampionRef | None, tracking: TrackingConfig | None, loader: EstimatorLoader
) -> Expectation | None:
    """The champion's expectation, loaded once; None when it has no estimator.

    Raises ExpectationError when the champion pins an estimator without its sha256 (an
    unverified pickle is never loaded) or when no tracking store was given to load it from;
    the loader's own errors (missing artifact, sha mismatch) propagate unchanged.
    """
    if champion is None or champion.version is None or champion.estimator_uri is None:
        return None
    if champion.estimator_sha256 is None:
        raise ExpectationError(
            f"{champion.project}: champion v{champion.version} names estimator {champion.estimator_uri} "
            "without its sha256; an unverified pickle is never loaded"
        )
    if tracking is None:
        raise ExpectationError(
            f"{champion.project}: champion v{champion.version} has an estimator, but no tracking store "
            "was given to load it (and the model) from"
        )
    estimator = loader(tracking, champion.estimator_uri, champion.estimator_sha256)
    same_metric = champion.metric == estimator.metric
    return Expectation(
        version=champion.version,
        estimator=estimator,
        evaluated=champion.evaluated_score if same_metric else None,
        evaluated_rows=champion.evaluated_rows,
        evaluated_noise=champion.evaluated_noise if same_metric else None,
    )


def scored_outputs(task: Task, pred: Predictions, known: tuple[str, ...] | None = None) -> np.ndarray:
    """What an estimator reads from batch scoring's output: the predicted values, the
    positive-class score (binary) or the probability matrix (multiclass) over the estimator's
    `known` classes (`known_columns`: the champion may lack a class its estimator met)."""
    from mlops_pipelines.lib.metrics import known_columns
    from mlops_pipelines.spec import Task

    if pred.value is not None:
        return pred.value
    outputs = pred.score if task is Task.BINARY else pred.proba
    if outputs is None:
        raise ExpectationError(f"a {task.value} model's predictions carry no scores to estimate from")
    return outputs if task is Task.BINARY else known_columns(outputs, pred.classes, known)


def labelled_outputs(pred: LabelledPredictions, known: tuple[str, ...] | None = None) -> np.ndarray:
    """The same, from evaluation's predictions on labelled rows."""
    from mlops_pipelines.lib.metrics import known_columns

    if pred.proba is None:
        return pred.y_pred
    return (
        pred.positive_scores if pred.positive is not None else known_columns(pred.proba, pred.classes, known)
    )


def realized_verdict(
    spec: ProjectSpec,
    pred: LabelledPredictions,
    features: pd.DataFrame,
    champion: ChampionRef | None,
    expectation: Expectation | None,
    version: str,
) -> tuple[PerformanceCheck, float | None]:
    """The realized check of one window and the expected value it was held to (None: none)."""
    from mlops_pipelines.lib.monitoring.signals import realized_check

    metric = spec.training.primary_metric
    champions_own = champion is not None and champion.version == version
    expected: float | None = None
    calibrated = None
    why_not: str | None = no_expectation(champion)
    if not champions_own:
        why_not = f"scored by v{version}, not the champion: neither its expectation nor its level applies"
    elif expectation is not None and expectation.metric != metric:
        why_not = f"the estimator estimates {expectation.metric}, not the primary metric {metric}"
    elif expectation is not None:
        outputs = labelled_outputs(pred, expectation.estimator.classes)
        estimate = expectation.estimator.estimate(features, outputs)
        expected, why_not = estimate.value, estimate.reason
        calibrated = expectation.estimator.calibrated(outputs)
    evaluated = None
    if champions_own and champion is not None and champion.metric == metric:
        evaluated = champion.evaluated_score
    retraining = spec.retraining
    check = realized_check(
        pred,
        spec.task,
        metric,
        expected=expected,
        evaluated=evaluated,
        margin=retraining.performance_margin,
        z=retraining.performance_z,
        min_rows=retraining.performance_min_rows,
        seed=spec.training.seed,
        calibrated=calibrated,
    )
    caveat = None if expected is not None else f"no expectation for these rows ({why_not})"
    return replace(check, reason=with_caveat(check.reason, caveat)), expected
