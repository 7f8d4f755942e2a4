"""Rolling-origin evaluation on real bike_sharing rows: every fold is predicted by a model that
never saw it, trained on as many partitions as the challenger, ending just before the fold."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.evaluation.backtest import (
    evaluation_of,
    fold_count,
    fold_partitions,
    fold_train,
    read_evaluation_rows,
    rolling_origin,
)
from mlops_pipelines.lib.metrics import compute_metrics, predict
from mlops_pipelines.lib.registry.model_loading import load_model
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import TrainingWindow
from mlops_pipelines.lib.training.fit import fit_pipeline
from mlops_pipelines.lib.training.stage import train_challenger
from mlops_pipelines.lib.training.window import split_features
from mlops_pipelines.spec import ProjectSpec

DAYS = tuple(f"2011-01-{d:02d}" for d in range(1, 11))


def test_folds_are_consecutive_and_each_trains_on_as_much_just_before_it_as_the_served_model() -> None:
    window = TrainingWindow(train=DAYS[:4], holdout=DAYS[4:9], as_of=DAYS[9])
    assert fold_partitions(window.holdout, 3) == [DAYS[4:6], DAYS[6:8], DAYS[8:9]]
    assert fold_partitions(window.holdout, 9) == [(d,) for d in DAYS[4:9]]  # at most one fold a partition
    # Nothing before the window: each fold learns from everything before it.
    assert fold_train(window, DAYS[4:6], DAYS) == DAYS[:4]
    assert fold_train(window, DAYS[6:8], DAYS) == DAYS[:6]
    assert fold_train(window, DAYS[8:9], DAYS) == DAYS[:8]
    # A longer history: each fold learns from 9 partitions (4 train + 5 evaluation), as the
    # refit that serves does, whatever order the store lists them in.
    december = tuple(f"2010-12-{d:02d}" for d in range(20, 32))
    history = (*reversed(DAYS), *december)
    assert fold_train(window, DAYS[4:6], history) == (*december[-5:], *DAYS[:4])
    assert fold_train(window, DAYS[8:9], history) == (*december[-1:], *DAYS[:8])


def test_an_evaluation_past_the_holdout_gets_more_folds_of_the_same_length() -> None:
    assert fold_count(5, 5, 3) == 3 and fold_count(2, 5, 3) == 2  # within the holdout: as before
    assert fold_count(6, 6, 3) == 3 and fold_count(29, 8, 3) == 10  # 8 in 3 folds: 3 long; 29 -> 10
    assert fold_count(13, 6, 3) == 7 and fold_count(1, 1, 3) == 1
    window = TrainingWindow(train=DAYS[:2], holdout=DAYS[6:9], as_of=DAYS[9], evaluation=DAYS[2:9])
    folds = fold_partitions(window.evaluated, fold_count(7, 3, 3))
    assert folds == [(d,) for d in DAYS[2:9]]  # the holdout's folds are one partition long
    assert fold_train(window, DAYS[2:3], DAYS) == DAYS[:2]  # a fold before the holdout is accepted
    # The failure twin: a fold that is not evaluated at all is refused, naming the evaluation.
    with pytest.raises(ValueError, match=r"evaluation partitions 2011-01-03\.\.2011-01-09"):
        fold_train(window, DAYS[9:10], DAYS)


def test_a_fold_outside_the_evaluation_partitions_is_refused() -> None:
    window = TrainingWindow(train=DAYS[:4], holdout=DAYS[4:9], as_of=DAYS[9])
    with pytest.raises(ValueError, match=r"fold \['2011-02-01'\] is not among the evaluation partitions"):
        fold_train(window, ("2011-02-01",), DAYS)


def test_every_fold_is_predicted_out_of_sample_by_a_model_as_fresh_as_the_one_that_serves(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")
    challenger = load_model(tracking, "bike_sharing", model.version).model.get_raw_model()
    backtest = rolling_origin(bike_spec, model, challenger, bike_tables)
    rows = backtest.rows
    available = sorted(bike_tables.partitions("bike_sharing", names.FEATURES, model.features_version))
    served = len(model.window.train) + len(model.window.holdout)
    assert any(len(fold.train) == served for fold in backtest.folds)  # the history is long enough here
    assert len(rows) == len(backtest.predictions.y_true) and backtest.predictions.index.equals(
        rows.labelled.features.index
    )
    for fold in backtest.folds:
        assert max(fold.train) < min(fold.partitions)  # the fold's model never saw the fold
        before = [p for p in available if p < fold.partitions[0]]
        assert fold.train == tuple(before[-served:])  # as much as the served refit learns from
        positions = np.flatnonzero(rows.mask(fold.partitions))
        assert len(positions) == fold.rows > 0
        if fold.model == "refit":  # the same parameters fitted on the window before the fold
            fitted = split_features(
                bike_tables.read(
                    "bike_sharing", names.FEATURES, keys=list(fold.train), version=model.features_version
                ),
                bike_spec,
            )
            fresh = fit_pipeline(fitted.features, fitted.target, bike_spec, model.best_params)
            expected = fresh.predict(rows.labelled.features.iloc[positions])
        else:
            expected = challenger.predict(rows.labelled.features.iloc[positions])
        assert np.array_equal(backtest.predictions.y_pred[positions], expected)
    # Fresh models serve the later folds better than the challenger alone, which is staler there.
    late = ~rows.mask(backtest.folds[0].partitions)
    pooled_mae = np.abs(backtest.predictions.y_pred - backtest.predictions.y_true)[late].mean()
    alone_mae = np.abs(backtest.challenger.y_pred - backtest.challenger.y_true)[late].mean()
    assert pooled_mae != alone_mae


def test_a_model_that_saw_its_fold_scores_better_than_the_pooled_out_of_sample_one(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    """The failure twin: in-sample predictions look better, which is why the folds never train on themselves."""
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")
    challenger = load_model(tracking, "bike_sharing", model.version).model.get_raw_model()
    backtest = rolling_origin(bike_spec, model, challenger, bike_tables)
    last = backtest.folds[-1]
    leaky_rows = split_features(
        bike_tables.read(
            "bike_sharing",
            names.FEATURES,
            keys=[*last.train, *last.partitions],
            version=model.features_version,
        ),
        bike_spec,
    )
    leaky = fit_pipeline(leaky_rows.features, leaky_rows.target, bike_spec, model.best_params)
    positions = np.flatnonzero(backtest.rows.mask(last.partitions))
    features = backtest.rows.labelled.features.iloc[positions]
    target = backtest.rows.labelled.target.iloc[positions]
    in_sample = compute_metrics(predict(leaky, features, target, bike_spec), bike_spec.task)[0]["mae"]
    honest = compute_metrics(backtest.predictions.subset(positions), bike_spec.task)[0]["mae"]
    assert in_sample < honest


def test_evaluation_of_a_subset_keeps_slice_positions_and_refuses_zero_rows(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> None:
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")
    challenger = load_model(tracking, "bike_sharing", model.version).model.get_raw_model()
    rows = read_evaluation_rows(bike_spec, bike_tables, model.window.holdout, model.features_version)
    pred = predict(challenger, rows.labelled.features, rows.labelled.target, bike_spec)
    keep = ~rows.mask(model.window.holdout[:2])
    subset = evaluation_of(pred.subset(keep), rows, bike_spec)
    assert subset.n_rows == int(keep.sum())
    # The features table stores workingday as a float64 feature, so its slice values read "0.0"/"1.0".
    assert [s.value for s in subset.slices if s.column == "workingday"] == ["0.0", "1.0"]
    weekend = subset.slice("workingday", "0.0")
    assert weekend is not None and weekend.positions is not None
    # The positions address the subset's rows: exactly its weekend rows, not those of every row.
    kept_context = rows.labelled.context[keep]
    assert np.array_equal(weekend.positions, np.flatnonzero(kept_context["workingday"].to_numpy() == 0))
    assert weekend.n == len(weekend.positions) < subset.n_rows
    picked = pred.subset(keep).subset(weekend.positions)
    assert weekend.metrics == compute_metrics(picked, bike_spec.task)[0]
    with pytest.raises(ValueError, match="bike_sharing: cannot evaluate on zero rows"):
        evaluation_of(pred.subset(np.zeros(len(keep), dtype=bool)), rows, bike_spec)
