"""Whether a training window can be learned from at all, asked before a training is started.

The search (`search.train_model`) refuses rows it cannot learn from: too few rows for its
time-series folds, a classifier's target with one class, or a first fold with one class. The
first model of a stream asks the same questions first (`evaluation.readiness`), so it waits
for data it can learn from instead of failing. A split whose validation rows the primary metric
cannot judge (one class under ROC AUC) is left out of the search rather than failing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.model_selection import TimeSeriesSplit

    from mlops_pipelines.spec import ProjectSpec

MIN_ROWS_PER_FOLD = 5


def fold_rows_problem(n_rows: int, folds: int) -> str | None:
    """Why `n_rows` time-ordered rows are too few for `folds` time-series folds, or None."""
    needed = (folds + 1) * MIN_ROWS_PER_FOLD
    if n_rows >= needed:
        return None
    return (
        f"{n_rows} training row(s) are too few for {folds} time-series folds "
        f"(need at least {needed}: {MIN_ROWS_PER_FOLD} per fold plus the first training block)"
    )


def time_series_folds(n_rows: int, folds: int) -> TimeSeriesSplit:
    """Expanding-window folds over time-ordered rows: each validation fold follows its training rows."""
    from sklearn.model_selection import TimeSeriesSplit

    problem = fold_rows_problem(n_rows, folds)
    if problem is not None:
        raise ValueError(problem)
    return TimeSeriesSplit(n_splits=folds)


Split = tuple["np.ndarray", "np.ndarray"]  # (training rows, validation rows), positions


def _judgeable(labels: pd.Series, split: Split, spec: ProjectSpec) -> bool:
    """Whether the primary metric judges the split's validation rows fairly: ROC AUC needs two
    classes there (`metrics`), and here exactly the classes its fold model knows, so no split
    is scored on a class its model could not have learned."""
    if spec.training.primary_metric != "roc_auc":
        return True
    seen, judged = set(labels.iloc[split[0]]), set(labels.iloc[split[1]])
    return len(judged) >= 2 and judged == seen


def cv_splits(target: pd.Series, spec: ProjectSpec) -> tuple[list[Split], str | None]:
    """The search's time-series CV splits over `target` (rows in time order) that can be fitted
    and judged, or none and why. A classifier needs two classes in all and in the first fold's
    training rows; a split whose validation rows the metric cannot judge (one class under ROC
    AUC: a stretch of dry weeks) is left out rather than failing the search."""
    folds = spec.training.cv_folds
    problem = fold_rows_problem(len(target), folds)
    if problem is not None:
        return [], problem
    splits: list[Split] = list(time_series_folds(len(target), folds).split(np.zeros(len(target))))
    if not spec.task.is_classification:
        return splits, None
    labels = target.astype("str")
    if labels.nunique() < 2:
        return [], f"target '{spec.target}' has a single class {labels.unique().tolist()}: nothing to learn"
    if labels.iloc[splits[0][0]].nunique() < 2:
        return [], (
            f"target '{spec.target}': the first time-series training fold ({len(splits[0][0])} rows) "
            "holds a single class; give more rows or fewer training.cv_folds"
        )
    kept = [split for split in splits if _judgeable(labels, split, spec)]
    if not kept:
        return [], (
            f"target '{spec.target}': none of the {folds} time-series validation folds holds the classes "
            f"{spec.training.primary_metric} needs; give more rows or fewer training.cv_folds"
        )
    return kept, None


def learnable_problem(target: pd.Series, spec: ProjectSpec) -> str | None:
    """Why `train_model` could not learn from these labels (rows in time order), or None."""
    return cv_splits(target, spec)[1]
