"""Whether a first model trained as of a partition could be learned and evaluated at all.

A stream's first training run searches its window (`training.readiness.cv_splits`) and then
predicts its evaluation partitions fold by fold with models fitted on the partitions before
each fold (`evaluation.backtest.rolling_origin`). A binary stream whose early partitions hold
one class (no rain in the dry season, no busy day in the first winter) cannot do either: the
search or a fold's fit raises. The demo asks this question before it starts the first training
and waits for a partition that answers None; the offline backtest asks the same of its replay
(`backtest.engine.bootstrap_index`), so both put the first model at the same partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.frames import TableSlice

if TYPE_CHECKING:
    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.spec import ProjectSpec


def first_model_problem(spec: ProjectSpec, tables: TableStore, as_of: str) -> str | None:
    """Why a first model trained as of `as_of` on the features table as it is now could not be
    trained or evaluated, or None. The window is selected as the training stage selects it
    (rows per partition included), so the answer is the one the training run would meet."""
    from mlops_pipelines.lib.evaluation.backtest import fold_count, fold_partitions, fold_train
    from mlops_pipelines.lib.training.readiness import learnable_problem
    from mlops_pipelines.lib.training.window import TrainingWindowError, select_window, split_features

    version = tables.version(spec.name, names.FEATURES)
    if version < 0:
        return f"{spec.name}: the features table does not exist yet"
    keys = tables.partitions(spec.name, names.FEATURES, version)
    piece = TableSlice(
        f"{spec.name}/{names.FEATURES}", tables.uri(spec.name, names.FEATURES), version, tuple(keys), -1
    )
    try:
        window = select_window(keys, spec, as_of, rows=tables.slice_rows(piece))
    except TrainingWindowError as err:  # too few labelled partitions yet: a reason to wait
        return str(err)

    rows = tables.read(spec.name, names.FEATURES, keys=list(window.train), version=version)
    problem = learnable_problem(split_features(rows, spec).target, spec)
    if problem is not None:
        return f"training window {window.train_range}: {problem}"
    if not spec.task.is_classification:
        return None
    evaluated = window.evaluated
    count = fold_count(len(evaluated), len(window.holdout), spec.promotion.backtest_folds)
    for fold in fold_partitions(evaluated, count):
        train = fold_train(window, fold, keys)
        if train == window.train:  # predicted by the challenger itself, searched above
            continue
        fitted = tables.read(spec.name, names.FEATURES, keys=list(train), version=version)
        seen = set(split_features(fitted, spec).target.astype("str"))
        if len(seen) < 2:
            return (
                f"the evaluation fold {fold[0]}..{fold[-1]} would be fitted on {train[0]}..{train[-1]}: "
                f"a single class {sorted(seen)}"
            )
    return None
