"""Model training: the sklearn pipeline a spec describes and a time-aware hyperparameter search.

Everything is seeded and single-threaded where thread timing could change floating-point
sums, so the same rows, spec and seed give bit-identical predictions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_pipelines.lib.features import feature_kinds
from mlops_pipelines.lib.metrics import check_metric, cv_scorer, higher_is_better
from mlops_pipelines.lib.training.readiness import cv_splits

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

MIN_CATEGORY_ROWS = 5  # rarer categories share one "infrequent" code: too few rows to learn from
LINEAR_MAX_ITER = 2000


@dataclass(frozen=True)
class CvCandidate:
    params: dict[str, Any]
    mean_score: float  # in the metric's own units (an MAE stays positive)
    std_score: float
    rank: int  # 1 is the best


@dataclass(frozen=True)
class CvSummary:
    metric: str
    folds: int
    search: str  # "grid" or "random"
    candidates: tuple[CvCandidate, ...]

    @property
    def best(self) -> CvCandidate:
        return min(self.candidates, key=lambda c: c.rank)

    def records(self) -> list[dict[str, Any]]:
        """One flat row per candidate (its parameters, then the scores), e.g. for a CSV."""
        return [
            {
                **c.params,
                f"mean_{self.metric}": c.mean_score,
                f"std_{self.metric}": c.std_score,
                "rank": c.rank,
            }
            for c in self.candidates
        ]


@dataclass(frozen=True)
class TrainedPipeline:
    pipeline: Pipeline = field(repr=False)
    best_params: dict[str, Any]
    cv_results: CvSummary
    primary_metric: str
    seed: int
    n_train_rows: int
    feature_names: tuple[str, ...]  # input columns, in the order the pipeline expects
    classes: tuple[str, ...] | None  # None for regression
    training_seconds: float


def _categorical_steps(family: str) -> list[tuple[str, Any]]:
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

    # Categories as text. The features table hands a True/False column back as numpy bool and a
    # date as datetime64, which the imputer this replaces refused, and a null among bools mixed
    # types the encoder cannot sort: the first retrain of such a project failed. A null (None,
    # as build_features and the table hand it over) becomes the category 'None', as the
    # imputer's fill value made it one. str per value, not astype(str): that writes a datetime64
    # column of midnights as '2022-01-02' and a Timestamp object as '2022-01-02 00:00:00'.
    # pandas' own method keeps the logged model free of this package.
    text = FunctionTransformer(pd.DataFrame.map, kw_args={"func": str}, feature_names_out="one-to-one")
    if family == "hist_gradient_boosting":
        # HGB reads negative category codes as missing, so an unseen category takes the
        # learned missing-value branch instead of failing. max_categories respects max_bins.
        encode: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            min_frequency=MIN_CATEGORY_ROWS,
            max_categories=255,
        )
    else:
        # An unseen category is by definition rare: it lands in the infrequent column when one
        # exists, else it is all zeros.
        encode = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_ROWS)
    return [("text", text), ("encode", encode)]


def _model(spec: ProjectSpec, n_numeric: int, n_categorical: int) -> Any:
    from sklearn import ensemble, linear_model

    family, seed, classify = spec.training.family, spec.training.seed, spec.task.is_classification
    if family == "hist_gradient_boosting":
        cat = list(range(n_numeric, n_numeric + n_categorical)) or None
        cls = ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
        return cls(categorical_features=cat, random_state=seed)
    if family == "linear":
        if classify:
            return linear_model.LogisticRegression(max_iter=LINEAR_MAX_ITER, random_state=seed)
        return linear_model.Ridge(random_state=seed)
    if family == "random_forest":
        # n_jobs=1: parallel predict adds tree outputs in thread-completion order, which
        # breaks bit-identical predictions.
        cls = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return cls(random_state=seed, n_jobs=1)
    raise ValueError(f"training.family: unknown model family '{family}'")


def build_pipeline(spec: ProjectSpec, params: dict[str, Any] | None = None) -> Pipeline:
    """An unfitted `prep` + `model` pipeline for the spec's features, task and model family."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    kinds = feature_kinds(spec)
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    if not kinds:
        raise ValueError(f"project '{spec.name}' has no feature columns left after features.exclude")
    family = spec.training.family
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        if family == "hist_gradient_boosting":
            # HGB learns which branch missing values take; imputing would hide that signal.
            transformers.append(("numeric", "passthrough", numeric))
        else:
            steps: list[tuple[str, Any]] = [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
            ]
            if family == "linear":
                steps.append(("scale", StandardScaler()))
            transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline(_categorical_steps(family)), categorical))
    prep = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    pipeline = Pipeline([("prep", prep), ("model", _model(spec, len(numeric), len(categorical)))])
    if params:
        _check_param_names(pipeline, list(params), family)
        pipeline.set_params(**params)
    return pipeline


def _check_param_names(pipeline: Pipeline, names: list[str], family: str) -> None:
    unknown = sorted(set(names) - set(pipeline.get_params()))
    if unknown:
        raise ValueError(f"training.search_space: unknown parameter(s) {unknown} for family '{family}'")


def grid_size(search_space: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in search_space.values())


def _check_inputs(features: pd.DataFrame, target: pd.Series, spec: ProjectSpec) -> list[str]:
    columns = list(feature_kinds(spec))
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"feature column(s) {missing} missing from the training frame")
    if not features.index.equals(target.index):
        raise ValueError("features and target are not aligned: their indexes differ")
    if target.isna().any():
        raise ValueError(f"target '{spec.target}' has {int(target.isna().sum())} null value(s)")
    empty = [name for name, values in spec.training.search_space.items() if not values]
    if empty:
        raise ValueError(f"training.search_space: parameter(s) {empty} have no values to try")
    check_metric(spec.task, spec.training.primary_metric, "training.primary_metric")
    return columns


def _cv_summary(search: Any, metric: str, folds: int, kind: str) -> CvSummary:
    results = search.cv_results_
    sign = 1.0 if higher_is_better(metric) else -1.0
    candidates = tuple(
        CvCandidate(dict(params), sign * float(mean), float(std), int(rank))
        for params, mean, std, rank in zip(
            results["params"],
            results["mean_test_score"],
            results["std_test_score"],
            results["rank_test_score"],
            strict=True,
        )
    )
    return CvSummary(metric=metric, folds=folds, search=kind, candidates=candidates)


def train_model(
    features: pd.DataFrame,
    target: pd.Series,
    spec: ProjectSpec,
    event_time: pd.Series | None = None,
    threads: int = 1,
) -> TrainedPipeline:
    """Search the spec's hyperparameters with time-series CV and refit the best on all rows.

    Rows must be in time order; pass `event_time` (aligned by index) to have them sorted first.
    `threads` caps OpenMP/BLAS threads: on a small shared machine libgomp's spinning threads
    made a 2-thread HGB fit 3-15x slower than a 1-thread one; results do not depend on it.
    """
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    columns = _check_inputs(features, target, spec)
    if event_time is not None:
        order = event_time.loc[features.index].sort_values(kind="stable").index
        features, target = features.loc[order], target.loc[order]
    frame = features[columns]
    training = spec.training
    folds, problem = cv_splits(target, spec)
    if problem is not None:
        raise ValueError(problem)
    if len(folds) < training.cv_folds:
        log.info(
            "%s: %d of %d CV folds can be judged by %s",
            spec.name,
            len(folds),
            training.cv_folds,
            training.primary_metric,
        )
    if spec.task.is_classification:
        target = target.astype("str")
    space = {name: list(values) for name, values in training.search_space.items()}
    size = grid_size(space)
    common: dict[str, Any] = {
        "scoring": cv_scorer(spec, training.primary_metric),
        "cv": folds,
        "refit": True,
        "n_jobs": 1,  # parallel search would reorder float work and cost determinism
        "error_score": "raise",
    }
    estimator = build_pipeline(spec)
    _check_param_names(estimator, list(space), training.family)
    search: Any
    if size <= training.search_iterations:
        kind, search = "grid", GridSearchCV(estimator, space, **common)
    else:
        # Sampling without replacement from a finite grid: never more draws than the grid holds.
        kind, search = (
            "random",
            RandomizedSearchCV(
                estimator, space, n_iter=training.search_iterations, random_state=training.seed, **common
            ),
        )
    with threadpool_limits(limits=threads):
        search.fit(frame, target)
    summary = _cv_summary(search, training.primary_metric, len(folds), kind)
    pipeline = search.best_estimator_
    classes = tuple(str(c) for c in pipeline.classes_) if spec.task.is_classification else None
    seconds = time.perf_counter() - started
    cv = f"{training.primary_metric} {summary.best.mean_score:.4f} with {summary.best.params}"
    log.info("trained %s on %d rows in %.1f s: cv %s", spec.name, len(frame), seconds, cv)
    return TrainedPipeline(
        pipeline=pipeline,
        best_params=dict(search.best_params_),
        cv_results=summary,
        primary_metric=training.primary_metric,
        seed=training.seed,
        n_train_rows=len(frame),
        feature_names=tuple(columns),
        classes=classes,
        training_seconds=seconds,
    )
