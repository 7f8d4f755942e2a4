"""Whether a window can be learned from: the search's CV splits on real adult rows, a fold the
metric cannot judge left out (and its twin: none left), the reasons named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.training.readiness import cv_splits, learnable_problem
from mlops_pipelines.lib.training.search import train_model
from mlops_pipelines.spec import ProjectSpec


@pytest.fixture(scope="module")
def rows(shared_data_dir: Path, specs: dict[str, ProjectSpec]) -> pd.DataFrame:
    spec = specs["adult_income"]
    frame = pd.read_csv(shared_data_dir / "adult" / "adult.data", **spec.source.read_options).iloc[:600]
    frame[EVENT_TIME] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    return frame


@pytest.fixture(scope="module")
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    adult = specs["adult_income"]  # roc_auc, 3 CV folds: validation rows 150..299, 300..449, 450..599
    return adult.model_copy(update={"training": adult.training.model_copy(update={"search_space": {}})})


def with_spec_metric(spec: ProjectSpec, metric: str) -> ProjectSpec:
    return spec.model_copy(update={"training": spec.training.model_copy(update={"primary_metric": metric})})


def test_a_validation_fold_of_one_class_is_left_out_under_roc_auc_and_the_search_trains(
    rows: pd.DataFrame, spec: ProjectSpec
) -> None:
    features, target = build_features(rows, spec), build_target(rows, spec)
    dry = target.copy()
    dry.iloc[300:450] = "<=50K"  # the second validation fold: one class, ROC AUC undefined there
    splits, problem = cv_splits(dry, spec)
    assert problem is None
    assert [(int(v[0]), int(v[-1])) for _, v in splits] == [(150, 299), (450, 599)]
    # Accuracy is defined on one class: every split stays.
    assert len(cv_splits(dry, with_spec_metric(spec, "accuracy"))[0]) == 3
    trained = train_model(features, dry, spec)  # raised "roc_auc is undefined" before
    assert trained.cv_results.folds == 2
    assert 0.5 < trained.cv_results.best.mean_score <= 1.0
    assert learnable_problem(dry, spec) is None


def test_no_validation_fold_with_both_classes_is_a_named_problem(
    rows: pd.DataFrame, spec: ProjectSpec
) -> None:
    features, target = build_features(rows, spec), build_target(rows, spec)
    dry = target.copy()
    dry.iloc[150:] = "<=50K"  # only the first training block holds both classes
    splits, problem = cv_splits(dry, spec)
    assert splits == []
    assert problem == (
        "target 'income': none of the 3 time-series validation folds holds the classes roc_auc needs; "
        "give more rows or fewer training.cv_folds"
    )
    with pytest.raises(ValueError, match="none of the 3 time-series validation folds"):
        train_model(features, dry, spec)


def test_each_reason_a_window_cannot_be_learned_is_named(rows: pd.DataFrame, spec: ProjectSpec) -> None:
    target = build_target(rows, spec)
    assert learnable_problem(target, spec) is None
    assert learnable_problem(target.iloc[:19], spec) == (
        "19 training row(s) are too few for 3 time-series folds "
        "(need at least 20: 5 per fold plus the first training block)"
    )
    one = pd.Series("<=50K", index=target.index)
    assert learnable_problem(one, spec) == "target 'income' has a single class ['<=50K']: nothing to learn"
    late = target.where(target.index >= 300, "<=50K")
    assert "the first time-series training fold (150 rows) holds a single class" in str(
        learnable_problem(late, spec)
    )
