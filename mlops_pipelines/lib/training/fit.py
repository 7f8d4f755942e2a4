"""Fitting a pipeline with known hyperparameters: the go-live refit and the backtest's fits.

The search (`search.train_model`) chooses hyperparameters once per retrain; what goes live is
then refit on the whole window, evaluation partitions included, with those parameters. The
offline backtest uses this same function for every model it replays, so a replayed model is
the model the loop would have served, not an approximation of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.features import feature_kinds
from mlops_pipelines.lib.training.search import build_pipeline

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlops_pipelines.spec import ProjectSpec


class FitError(ValueError):
    """Rows that cannot be fitted; the message names the problem and the counts."""


def fit_pipeline(
    features: pd.DataFrame,
    target: pd.Series,
    spec: ProjectSpec,
    params: Mapping[str, Any],
    *,
    threads: int = 1,
) -> Pipeline:
    """A fresh pipeline for the spec, with `params` set, fitted on every row given.

    Rows must already be in time order (the model families here do not depend on row order
    except through ties, but the caller's order is kept so a refit is repeatable).
    """
    from threadpoolctl import threadpool_limits

    columns = list(feature_kinds(spec))
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise FitError(f"{spec.name}: feature column(s) {missing} missing from the rows to fit")
    if len(features) == 0:
        raise FitError(f"{spec.name}: no rows to fit")
    if target.isna().any():
        raise FitError(f"{spec.name}: target '{spec.target}' has {int(target.isna().sum())} null value(s)")
    labels: pd.Series = target.astype("str") if spec.task.is_classification else target
    if spec.task.is_classification and labels.nunique() < 2:
        raise FitError(
            f"{spec.name}: target '{spec.target}' holds a single class {labels.unique().tolist()} "
            f"in {len(labels)} row(s): nothing to learn"
        )
    pipeline = build_pipeline(spec, dict(params))
    with threadpool_limits(limits=threads):
        pipeline.fit(features[columns], labels)
    return pipeline
