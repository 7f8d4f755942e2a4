"""The champion/challenger gate on real models, and the vectorised paired bootstrap behind it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.evaluation.holdout import Evaluation, evaluate_model
from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.metrics import Predictions, compute_metrics
from mlops_pipelines.lib.promotion.bootstrap import paired_improvements, weighted_metric
from mlops_pipelines.lib.promotion.gate import DecisionRecord, ModelScores, decide_promotion
from mlops_pipelines.lib.training.search import build_pipeline, train_model
from mlops_pipelines.spec import ProjectSpec, Task

DECIDED_AT = datetime(2011, 3, 15, 6, 0, tzinfo=UTC)


def tiny(spec: ProjectSpec, **training: Any) -> ProjectSpec:
    return spec.model_copy(update={"training": spec.training.model_copy(update=training)})


@pytest.fixture(scope="module")
def bike_spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return tiny(specs["bike_sharing"], search_space={"model__max_iter": [60]})


@pytest.fixture(scope="module")
def bike(shared_data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    frame[EVENT_TIME] = pd.to_datetime(frame["dteday"]) + pd.to_timedelta(frame["hr"], unit="h")
    return frame


@pytest.fixture(scope="module")
def bike_scores(bike: pd.DataFrame, bike_spec: ProjectSpec) -> dict[str, ModelScores]:
    """Four bike models scored on the same two fresh weeks of March 2011."""
    train = bike[bike[EVENT_TIME] < "2011-03-01"]
    holdout = bike[(bike[EVENT_TIME] >= "2011-03-01") & (bike[EVENT_TIME] < "2011-03-15")]
    features, target = build_features(holdout, bike_spec), build_target(holdout, bike_spec)

    def scored(version: str, rows: pd.DataFrame) -> ModelScores:
        trained = train_model(build_features(rows, bike_spec), build_target(rows, bike_spec), bike_spec)
        evaluation = evaluate_model(trained.pipeline, features, target, bike_spec, holdout, importance_rows=0)
        return ModelScores(version, evaluation)

    from sklearn.dummy import DummyRegressor

    dummy = build_pipeline(bike_spec).set_params(model=DummyRegressor())
    dummy.fit(build_features(train, bike_spec), build_target(train, bike_spec))
    return {
        "full": scored("full", train),
        "small": scored("small", train.iloc[:200]),
        # Trained on working days only: better overall, worse than "small" on weekends.
        "weekdays": scored("weekdays", train[train["workingday"] == 1]),
        "dummy": ModelScores(
            "dummy", evaluate_model(dummy, features, target, bike_spec, holdout, importance_rows=0)
        ),
    }


def test_a_clearly_better_challenger_is_promoted(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide_promotion(bike_scores["full"], bike_scores["small"], bike_spec, decided_at=DECIDED_AT)
    assert record.verdict == "promote", record.reasons
    assert record.champion_version == "small" and record.metric == "mae" and not record.higher_is_better
    assert record.ci_low is not None and record.ci_high is not None and record.improvement is not None
    assert 0 < record.ci_low < record.improvement < record.ci_high
    assert record.challenger_score == bike_scores["full"].evaluation.metrics["mae"]
    assert record.champion_score is not None and record.challenger_score is not None
    assert record.improvement == pytest.approx(record.champion_score - record.challenger_score)
    assert all(k.passed for k in record.kpis)
    assert record.slice_regressions == [] and record.fairness_regressions == []
    assert "lies above 0" in record.reasons[0]


def test_a_worse_challenger_is_rejected_with_its_interval(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide_promotion(bike_scores["small"], bike_scores["full"], bike_spec, decided_at=DECIDED_AT)
    assert record.verdict == "reject"
    assert record.ci_high is not None and record.ci_high < 0
    assert any(r.startswith("challenger mae") and "not better than champion mae" in r for r in record.reasons)
    assert any("95% CI of improvement [" in r and r.endswith("lies below 0") for r in record.reasons)


def test_an_equal_challenger_is_rejected_because_the_interval_includes_zero(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    twin = ModelScores("twin", bike_scores["full"].evaluation)
    record = decide_promotion(twin, bike_scores["full"], bike_spec, decided_at=DECIDED_AT)
    assert record.verdict == "reject"
    assert record.ci_low == record.ci_high == 0.0
    assert "[0, 0] includes 0" in record.reasons[0]


def test_required_improvement_can_veto_a_real_gain(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    demanding = bike_spec.model_copy(
        update={"promotion": bike_spec.promotion.model_copy(update={"min_improvement": 50.0})}
    )
    record = decide_promotion(bike_scores["full"], bike_scores["small"], demanding, decided_at=DECIDED_AT)
    assert record.verdict == "reject"
    assert "lies below 50" in record.reasons[0]


def test_kpi_floors_gate_a_first_model(bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec) -> None:
    record = decide_promotion(bike_scores["dummy"], None, bike_spec, decided_at=DECIDED_AT)
    assert record.verdict == "reject"
    assert record.champion_version is None and record.ci_low is None
    assert any(r.startswith("KPI r2 ") and "is below its floor 0.5" in r for r in record.reasons)
    first = decide_promotion(bike_scores["full"], None, bike_spec, decided_at=DECIDED_AT)
    assert first.verdict == "promote"
    assert first.reasons == ["no champion: challenger meets the KPIs (2 declared)"]


def test_a_slice_regression_vetoes_an_overall_better_challenger(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    weekdays, small = bike_scores["weekdays"], bike_scores["small"]
    record = decide_promotion(weekdays, small, bike_spec, decided_at=DECIDED_AT)
    assert record.ci_low is not None and record.ci_low > 0  # better overall...
    assert record.verdict == "reject"  # ...but not on weekends
    (regression,) = record.slice_regressions
    assert (regression.column, regression.value) == ("workingday", "0")
    assert regression.relative_worsening > bike_spec.promotion.slice_tolerance
    assert any(r.startswith("slice workingday=0 (n=94): challenger mae") for r in record.reasons)
    lenient = bike_spec.model_copy(
        update={"promotion": bike_spec.promotion.model_copy(update={"slice_tolerance": 0.5})}
    )
    assert decide_promotion(weekdays, small, lenient, decided_at=DECIDED_AT).verdict == "promote"


def test_decision_record_round_trips_as_json(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide_promotion(bike_scores["weekdays"], bike_scores["small"], bike_spec, decided_at=DECIDED_AT)
    again = DecisionRecord.model_validate_json(record.to_json())
    assert again == record
    assert again.decided_at == DECIDED_AT
    # Same inputs, same seed: the same decision, interval included.
    assert (
        decide_promotion(bike_scores["weekdays"], bike_scores["small"], bike_spec, decided_at=DECIDED_AT)
        == record
    )


def test_models_scored_on_different_rows_cannot_be_compared(
    bike: pd.DataFrame, bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    full = bike_scores["full"].evaluation
    shifted = Predictions(full.predictions.index + 1, full.predictions.y_true, full.predictions.y_pred, None)
    other = ModelScores("other", Evaluation(**{**full.__dict__, "predictions": shifted}))
    with pytest.raises(ValueError, match="not scored on the same holdout rows"):
        decide_promotion(other, bike_scores["small"], bike_spec, decided_at=DECIDED_AT)


def test_a_fairness_regression_vetoes_an_overall_better_challenger(
    shared_data_dir: Path, specs: dict[str, ProjectSpec]
) -> None:
    spec = tiny(specs["adult_income"], search_space={"model__max_iter": [40]})
    adult = pd.read_csv(shared_data_dir / "adult" / "adult.data", **spec.source.read_options)
    holdout = adult.iloc[20000:23000]
    features, target = build_features(holdout, spec), build_target(holdout, spec)

    def scored(version: str, rows: pd.DataFrame, labels: pd.Series) -> ModelScores:
        trained = train_model(build_features(rows, spec), labels, spec)
        evaluation = evaluate_model(trained.pipeline, features, target, spec, holdout, importance_rows=0)
        return ModelScores(version, evaluation)

    small, large = adult.iloc[:400], adult.iloc[:4000]
    champion = scored("small", small, build_target(small, spec))
    # A biased labelling process: half the women's high incomes are recorded as <=50K.
    under_reported = (large["sex"] == "Female") & (np.random.default_rng(0).random(len(large)) < 0.5)
    challenger = scored("biased", large, build_target(large, spec).where(~under_reported, "<=50K"))
    record = decide_promotion(challenger, champion, spec, decided_at=DECIDED_AT)
    assert record.ci_low is not None and record.ci_low > 0  # better ROC-AUC overall...
    assert record.verdict == "reject"  # ...by missing high-earning women
    gaps = {(f.attribute, f.metric): f.increase for f in record.fairness_regressions}
    assert gaps[("sex", "equal_opportunity_difference")] > 0.15
    assert any(r.startswith("fairness sex equal_opportunity_difference: challenger") for r in record.reasons)
    # The same rows with honest labels: no gender gap opens up.
    fair = scored("fair", large, build_target(large, spec))
    fair_record = decide_promotion(fair, champion, spec, decided_at=DECIDED_AT)
    assert not [f for f in fair_record.fairness_regressions if f.attribute == "sex"]


def _binary(n: int, seed: int) -> tuple[Predictions, Predictions]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.3
    labels = np.where(truth, "yes", "no").astype(object)

    def model(signal: float) -> Predictions:
        # Rounded scores create ties, which the weighted AUC must count as halves.
        scores = np.round(np.clip(signal * truth + rng.random(n) * (1 - signal), 0.001, 0.999), 2)
        predicted = np.where(scores > 0.5, "yes", "no").astype(object)
        return Predictions(
            pd.RangeIndex(n), labels, predicted, np.c_[1 - scores, scores], ("no", "yes"), "yes"
        )

    return model(0.3), model(0.2)


def test_unit_weights_reproduce_every_evaluation_metric() -> None:
    rng = np.random.default_rng(0)
    truth = rng.gamma(2.0, 50.0, 500).round()
    regression = Predictions(pd.RangeIndex(500), truth, truth + rng.normal(0, 20, 500), None)
    ones = np.ones((1, 500))
    for metric, value in compute_metrics(regression, Task.REGRESSION)[0].items():
        assert weighted_metric(metric, regression, ones)[0] == pytest.approx(value, rel=1e-12), metric
    classifier, _ = _binary(500, 1)
    for metric, value in compute_metrics(classifier, Task.BINARY)[0].items():
        assert weighted_metric(metric, classifier, ones)[0] == pytest.approx(value, rel=1e-12), metric
    labels = np.array(["a", "b", "c"], dtype=object)
    proba = rng.dirichlet([1, 1, 1], 300)
    multi = Predictions(
        pd.RangeIndex(300), labels[rng.integers(0, 3, 300)], labels[proba.argmax(1)], proba, ("a", "b", "c")
    )
    for metric, value in compute_metrics(multi, Task.MULTICLASS)[0].items():
        assert weighted_metric(metric, multi, np.ones((1, 300)))[0] == pytest.approx(value, rel=1e-12), metric


def test_bootstrap_of_500_samples_on_50k_rows_is_fast() -> None:
    better, worse = _binary(50_000, 2)
    started = time.process_time()
    diffs = paired_improvements(better, worse, "roc_auc", 500, seed=42)
    assert time.process_time() - started < 10  # about 2.5 s of CPU here; a loop of roc_auc_score takes 40 s
    assert len(diffs) == 500 and np.all(diffs > 0)


def test_bootstrap_is_seeded_and_sign_adjusted() -> None:
    better, worse = _binary(3000, 3)
    diffs = paired_improvements(better, worse, "roc_auc", 200, seed=42)
    assert np.array_equal(diffs, paired_improvements(better, worse, "roc_auc", 200, seed=42))
    assert not np.array_equal(diffs, paired_improvements(better, worse, "roc_auc", 200, seed=43))
    # Lower-is-better metrics are sign-adjusted: the better model still shows a positive gain.
    assert np.median(paired_improvements(better, worse, "log_loss", 100, seed=1)) > 0
    assert np.median(paired_improvements(worse, better, "brier", 100, seed=1)) < 0
