"""Holdout evaluation on real data: metrics, slices, fairness, importance, plots, KPIs, model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.evaluation.holdout import Evaluation, check_kpis, evaluate_model, primary_score
from mlops_pipelines.lib.evaluation.model_card import model_card
from mlops_pipelines.lib.evaluation.plots import render_plots
from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.metrics import Predictions, compute_metrics, higher_is_better
from mlops_pipelines.lib.training.search import train_model
from mlops_pipelines.spec import KPI, ProjectSpec, Task, parse_spec

PNG = b"\x89PNG\r\n\x1a\n"


def tiny(spec: ProjectSpec, **training: Any) -> ProjectSpec:
    return spec.model_copy(update={"training": spec.training.model_copy(update=training)})


@pytest.fixture(scope="module")
def adult_spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return tiny(specs["adult_income"], search_space={"model__max_iter": [60]})


@pytest.fixture(scope="module")
def adult(shared_data_dir: Path, adult_spec: ProjectSpec) -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir / "adult" / "adult.data", **adult_spec.source.read_options)
    frame[EVENT_TIME] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    return frame


@pytest.fixture(scope="module")
def adult_eval(adult: pd.DataFrame, adult_spec: ProjectSpec) -> Evaluation:
    train, holdout = adult.iloc[:4000], adult.iloc[20000:22500]
    trained = train_model(build_features(train, adult_spec), build_target(train, adult_spec), adult_spec)
    features, target = build_features(holdout, adult_spec), build_target(holdout, adult_spec)
    return evaluate_model(trained.pipeline, features, target, adult_spec, holdout, importance_rows=600)


@pytest.fixture(scope="module")
def bike_spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return tiny(specs["bike_sharing"], search_space={"model__max_iter": [60]})


@pytest.fixture(scope="module")
def bike_eval(shared_data_dir: Path, bike_spec: ProjectSpec) -> Evaluation:
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    frame[EVENT_TIME] = pd.to_datetime(frame["dteday"]) + pd.to_timedelta(frame["hr"], unit="h")
    train = frame[frame[EVENT_TIME] < "2011-03-01"]
    holdout = frame[(frame[EVENT_TIME] >= "2011-03-01") & (frame[EVENT_TIME] < "2011-03-15")]
    trained = train_model(build_features(train, bike_spec), build_target(train, bike_spec), bike_spec)
    features, target = build_features(holdout, bike_spec), build_target(holdout, bike_spec)
    return evaluate_model(trained.pipeline, features, target, bike_spec, holdout, importance_rows=300)


def test_adult_classifier_metrics_are_complete_and_sane(adult_eval: Evaluation) -> None:
    metrics = adult_eval.metrics
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier"}
    assert metrics["roc_auc"] > 0.85
    assert 0.75 < metrics["accuracy"] < 0.95
    assert 0 < metrics["brier"] < 0.2
    assert primary_score(adult_eval, "roc_auc") == metrics["roc_auc"]
    matrix = np.asarray(adult_eval.confusion_matrix)
    assert matrix.shape == (2, 2)
    assert matrix.sum() == adult_eval.n_rows == 2500
    assert matrix.trace() / matrix.sum() == pytest.approx(metrics["accuracy"])
    bins = adult_eval.calibration
    assert bins is not None
    assert sum(b.n for b in bins) == adult_eval.n_rows
    assert all(b.lower <= b.mean_predicted <= b.upper for b in bins)
    # A well-fitted boosted model is roughly calibrated: the busiest bin's rate matches its scores.
    busiest = max(bins, key=lambda b: b.n)
    assert abs(busiest.observed_rate - busiest.mean_predicted) < 0.05


def test_adult_slices_and_fairness_show_the_known_gender_gap(adult_eval: Evaluation) -> None:
    assert {s.column for s in adult_eval.slices} == {"sex", "race", "relationship"}
    female, male = adult_eval.slice("sex", "Female"), adult_eval.slice("sex", "Male")
    assert female is not None and male is not None
    assert female.n + male.n == adult_eval.n_rows
    assert "roc_auc" in female.metrics
    assert adult_eval.fairness is not None
    assert adult_eval.fairness.positive_label == ">50K"
    sex = adult_eval.fairness.attribute("sex")
    rates = {g.group: g.selection_rate for g in sex.groups}
    assert rates["Male"] > rates["Female"]
    assert sex.demographic_parity_difference is not None
    assert sex.demographic_parity_difference > 0.1
    assert sex.demographic_parity_difference == pytest.approx(rates["Male"] - rates["Female"])
    race = adult_eval.fairness.attribute("race")
    assert {g.group for g in race.groups} >= {"White", "Black"}
    tiny_groups = {g.group for g in race.groups if g.n < 30 or g.positives < 10}
    assert tiny_groups and tiny_groups <= set(race.excluded_groups)
    with pytest.raises(KeyError, match="no sensitive attribute 'age'"):
        adult_eval.fairness.attribute("age")


def test_permutation_importance_is_seeded_and_finds_real_signal(
    adult_eval: Evaluation, adult: pd.DataFrame, adult_spec: ProjectSpec
) -> None:
    importance = adult_eval.importance
    assert len(importance) == len(build_features(adult.iloc[:1], adult_spec).columns)
    assert [i.mean for i in importance] == sorted((i.mean for i in importance), reverse=True)
    top = {i.feature for i in importance[:4]}
    assert top & {"marital_status", "relationship", "capital_gain", "age", "education_num"}
    assert importance[0].mean > 0.01


def test_evaluation_input_errors_name_the_problem(
    adult: pd.DataFrame, adult_spec: ProjectSpec, adult_eval: Evaluation
) -> None:
    holdout = adult.iloc[20000:20100]
    features, target = build_features(holdout, adult_spec), build_target(holdout, adult_spec)
    trained = train_model(
        build_features(adult.iloc[:600], adult_spec), build_target(adult.iloc[:600], adult_spec), adult_spec
    )
    with pytest.raises(ValueError, match=r"column\(s\) \['race'\] missing from the context frame"):
        evaluate_model(trained.pipeline, features, target, adult_spec, holdout.drop(columns=["race"]))
    with pytest.raises(ValueError, match=r"context frame with column\(s\) \['sex', 'race', 'relationship'\]"):
        evaluate_model(trained.pipeline, features, target, adult_spec)
    with pytest.raises(ValueError, match=r"context frame lacks 50 holdout row"):
        evaluate_model(trained.pipeline, features, target, adult_spec, holdout.iloc[50:])
    with pytest.raises(ValueError, match=r"feature column\(s\) \['age'\] missing from the holdout frame"):
        evaluate_model(trained.pipeline, features.drop(columns=["age"]), target, adult_spec, holdout)
    with pytest.raises(ValueError, match="empty holdout"):
        evaluate_model(trained.pipeline, features.iloc[:0], target.iloc[:0], adult_spec, holdout)
    unlabelled = target.copy()
    unlabelled.iloc[[3, 7]] = None
    with pytest.raises(ValueError, match=r"target 'income' has 2 null value\(s\)"):
        evaluate_model(trained.pipeline, features, unlabelled, adult_spec, holdout)


def test_bike_regression_metrics_and_slices(bike_eval: Evaluation) -> None:
    assert set(bike_eval.metrics) == {"rmse", "mae", "mape", "r2"}
    assert 10 < bike_eval.metrics["mae"] < 60
    assert bike_eval.metrics["rmse"] >= bike_eval.metrics["mae"]
    assert bike_eval.metrics["r2"] > 0.6
    assert bike_eval.confusion_matrix is None and bike_eval.calibration is None and bike_eval.fairness is None
    weekend, weekday = bike_eval.slice("workingday", "0"), bike_eval.slice("workingday", "1")
    assert weekend is not None and weekday is not None
    assert weekend.n + weekday.n == bike_eval.n_rows
    assert weekend.metrics["mae"] > weekday.metrics["mae"]  # weekends follow another daily pattern
    assert json.loads(json.dumps(bike_eval.to_dict()))["metrics"] == bike_eval.metrics


def test_mape_leaves_out_zero_targets_and_says_so() -> None:
    truth = np.array([0.0, 0.0, 10.0, 20.0])
    guess = np.array([1.0, 2.0, 11.0, 18.0])
    metrics, notes = compute_metrics(Predictions(pd.RangeIndex(4), truth, guess, None), Task.REGRESSION)
    assert metrics["mape"] == pytest.approx((0.1 + 0.1) / 2)
    assert notes == ["mape leaves out 2 row(s) with a zero target"]
    from sklearn.metrics import mean_absolute_percentage_error

    assert mean_absolute_percentage_error(truth, guess) > 1e14  # what the guard avoids
    zeros, notes = compute_metrics(
        Predictions(pd.RangeIndex(2), np.zeros(2), np.ones(2), None), Task.REGRESSION
    )
    assert "mape" not in zeros and "r2" not in zeros
    assert "mape is undefined: every target is zero" in notes


def test_metric_directions() -> None:
    assert higher_is_better("roc_auc") and higher_is_better("r2") and higher_is_better("f1")
    assert not higher_is_better("mae") and not higher_is_better("log_loss") and not higher_is_better("brier")
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        higher_is_better("auc")


def test_kpis_pass_fail_and_unknown(adult_eval: Evaluation, adult_spec: ProjectSpec) -> None:
    results = check_kpis(adult_eval, adult_spec)
    assert [(r.metric, r.passed) for r in results] == [("roc_auc", True), ("f1", True)]
    strict = adult_spec.model_copy(
        update={"kpis": [KPI(metric="roc_auc", floor=0.99), KPI(metric="brier", ceiling=0.01)]}
    )
    assert [r.passed for r in check_kpis(adult_eval, strict)] == [False, False]
    unknown = adult_spec.model_copy(
        update={"kpis": [KPI(metric="f1", floor=0.1), KPI(metric="rmse", ceiling=3)]}
    )
    with pytest.raises(
        ValueError, match=r"kpis\[1\] \('rmse'\): metric 'rmse' is not defined for a binary task"
    ):
        check_kpis(adult_eval, unknown)


def test_multiclass_uses_macro_averages(adult: pd.DataFrame, adult_spec: ProjectSpec) -> None:
    data = adult_spec.model_dump(by_alias=True, mode="json")
    data.update(task="multiclass", target="relationship", sensitive_attributes=[], slices=["sex"], kpis=[])
    data["training"].update(primary_metric="f1", search_space={"model__max_iter": [30]})
    spec = parse_spec(data)
    train, holdout = adult.iloc[:2000], adult.iloc[20000:21000]
    trained = train_model(build_features(train, spec), build_target(train, spec), spec)
    features, target = build_features(holdout, spec), build_target(holdout, spec)
    evaluation = evaluate_model(trained.pipeline, features, target, spec, holdout, importance_rows=0)
    assert evaluation.fairness is None and evaluation.importance == []
    assert np.asarray(evaluation.confusion_matrix).shape == (6, 6)
    assert evaluation.metrics["roc_auc"] > 0.8
    from sklearn.metrics import f1_score

    pred = evaluation.predictions
    assert evaluation.metrics["f1"] == pytest.approx(f1_score(pred.y_true, pred.y_pred, average="macro"))
    assert evaluation.metrics["f1"] < evaluation.metrics["accuracy"]  # rare classes pull the macro mean down


def test_plots_are_png_for_each_task(adult_eval: Evaluation, bike_eval: Evaluation) -> None:
    classifier = render_plots(adult_eval)
    assert set(classifier) == {
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        "feature_importance.png",
    }
    regression = render_plots(bike_eval)
    assert set(regression) == {"residuals.png", "predicted_vs_actual.png", "feature_importance.png"}
    assert all(
        png.startswith(PNG) and len(png) > 5000 for png in [*classifier.values(), *regression.values()]
    )


def test_model_card_reports_use_lineage_and_limitations(
    adult_eval: Evaluation, adult_spec: ProjectSpec
) -> None:
    lineage = {"validated": "adult_income/validated@v3", "rows": "0..5000"}
    card = model_card(adult_spec, adult_eval, lineage)
    assert "Predict whether yearly income exceeds 50K USD." in card.markdown
    assert "adult_income/validated@v3" in card.markdown
    assert "| sex |" in card.markdown and "KPI missed" not in card.markdown
    assert "leaves out groups too small to measure" in card.markdown
    data = json.loads(card.json)
    assert data["evaluation"]["metrics"]["roc_auc"] == adult_eval.metrics["roc_auc"]
    assert data["lineage"] == lineage
    strict = adult_spec.model_copy(update={"kpis": [KPI(metric="roc_auc", floor=0.99)]})
    missed = model_card(strict, adult_eval, lineage)
    assert any(item.startswith("KPI missed: roc_auc") for item in missed.data["limitations"])
    assert "| roc_auc" in missed.markdown and "| NO |" in missed.markdown
