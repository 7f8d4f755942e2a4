"""Compiling fitted pipelines to ONNX: accepted only when they reproduce scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.scoring.compiled import CompileError, Tolerance, compile_pipeline, with_nulls
from mlops_pipelines.lib.training.search import build_pipeline
from mlops_pipelines.spec import ProjectSpec


@pytest.fixture(scope="module")
def bike(shared_data_dir: Path, specs: dict[str, ProjectSpec]) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv", nrows=3000)
    frame["dteday"] = pd.to_datetime(frame["dteday"])
    spec = specs["bike_sharing"]
    return build_features(frame, spec), build_target(frame, spec)


@pytest.fixture(scope="module")
def wine(shared_data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data_dir / "wine_quality" / "winequality-red.csv", sep=";")


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def test_the_project_pipeline_compiles_and_scores_unseen_rows_like_sklearn(
    bike: tuple[pd.DataFrame, pd.Series], specs: dict[str, ProjectSpec]
) -> None:
    features, target = bike
    pipeline = build_pipeline(specs["bike_sharing"], {"model__max_iter": 50}).fit(
        features[:2000], target[:2000]
    )
    compiled = compile_pipeline(pipeline, features.iloc[:200])
    assert 0 < compiled.max_deviation < 1e-2 and compiled.classes == ()
    for unseen in (features.iloc[2000:], with_nulls(features.iloc[2000:])):
        expected = pipeline.predict(unseen)
        np.testing.assert_allclose(compiled.predict(_columns(unseen)), expected, rtol=1e-4, atol=1e-3)


def test_the_random_forest_project_pipeline_compiles(
    wine: pd.DataFrame, specs: dict[str, ProjectSpec]
) -> None:
    spec = specs["wine_quality"]
    features = wine.drop(columns="quality").rename(columns=lambda c: c.replace(" ", "_").lower())
    features = features[spec.feature_columns].astype("float64")
    target = wine["quality"].astype("float64")
    pipeline = build_pipeline(spec, {"model__n_estimators": 30}).fit(features.iloc[:1000], target.iloc[:1000])
    compiled = compile_pipeline(pipeline, features.iloc[1000:1200])
    np.testing.assert_allclose(
        compiled.predict(_columns(features.iloc[1200:])), pipeline.predict(features.iloc[1200:]), rtol=1e-4
    )


def test_float32_scaling_before_trees_is_caught_by_the_parity_check(wine: pd.DataFrame) -> None:
    # ONNX scales in float32; values that land beside a split threshold then take the other
    # branch. The compiled model must be refused, not served with different answers.
    features, target = wine.drop(columns="quality"), wine["quality"].astype("float64")
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0)),
        ]
    ).fit(features.iloc[:1000], target.iloc[:1000])
    with pytest.raises(CompileError, match="ONNX differs from scikit-learn by up to"):
        compile_pipeline(pipeline, features.iloc[1000:1200])


def test_classifier_probabilities_follow_the_pipeline_classes(wine: pd.DataFrame) -> None:
    features = wine.drop(columns="quality")
    labels = np.where(wine["quality"] >= 6, "good", "plain")
    model = Pipeline(
        [
            ("prep", ColumnTransformer([("numeric", "passthrough", list(features.columns))])),
            ("model", HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        ]
    ).fit(features.iloc[:1000], labels[:1000])
    compiled = compile_pipeline(model, features.iloc[1000:1200])
    assert compiled.classes == ("good", "plain")
    proba = compiled.predict(_columns(features.iloc[1200:]))
    expected = model.predict_proba(features.iloc[1200:])
    np.testing.assert_allclose(proba, expected, atol=1e-4)
    assert (proba.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_categorical_inputs_are_refused_by_name(bike: tuple[pd.DataFrame, pd.Series]) -> None:
    features = bike[0]
    mixed = features.assign(weather=np.where(features["weathersit"] > 1, "wet", "dry"))
    with pytest.raises(CompileError, match=r"non-numeric feature column\(s\) \['weather'\]"):
        compile_pipeline(object(), mixed.iloc[:10])


def test_an_empty_example_or_an_unknown_estimator_is_refused(bike: tuple[pd.DataFrame, pd.Series]) -> None:
    features, target = bike

    class Mean(RegressorMixin, BaseEstimator):
        def fit(self, x: pd.DataFrame, y: pd.Series) -> Mean:
            self.mean_ = float(np.mean(y))
            return self

        def predict(self, x: pd.DataFrame) -> np.ndarray:
            return np.full(len(x), self.mean_)

    with pytest.raises(CompileError, match="no input example"):
        compile_pipeline(Mean().fit(features, target), features.iloc[:0])
    with pytest.raises(CompileError, match="no input example"):
        compile_pipeline(Mean().fit(features, target), features.iloc[:5, :0])
    with pytest.raises(CompileError, match="no ONNX conversion"):
        compile_pipeline(Mean().fit(features, target), features.iloc[:20])


def test_a_deviation_beyond_tolerance_is_refused(
    bike: tuple[pd.DataFrame, pd.Series], specs: dict[str, ProjectSpec]
) -> None:
    features, target = bike
    pipeline = build_pipeline(specs["bike_sharing"], {"model__max_iter": 50}).fit(features, target)
    # float32 trees cannot match float64 exactly: a zero tolerance must refuse them.
    with pytest.raises(CompileError, match="ONNX differs from scikit-learn by up to"):
        compile_pipeline(pipeline, features.iloc[:200], Tolerance(rtol=0.0, atol=0.0))
