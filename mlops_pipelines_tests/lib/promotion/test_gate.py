"""The champion/challenger gate (v2) on real models, and the vectorised paired bootstrap behind it.

The gate judges an `Evidence` record: non-inferiority within a margin of the champion's score
on a paired bootstrap interval (a superiority gate only when `min_improvement` > 0), KPIs
judged against the champion, slices that block only when confidently worse, fairness gaps, and
`insufficient_evidence` when too few rows can be compared (below `min_rows` a challenger is
promoted only if it is at least as good by the point estimate and not confidently worse).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.evaluation.holdout import Evaluation, evaluate_model, slice_metrics
from mlops_pipelines.lib.features import build_features, build_target
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.metrics import Predictions, compute_metrics
from mlops_pipelines.lib.promotion.bootstrap import paired_improvements, weighted_metric
from mlops_pipelines.lib.promotion.gate import (
    DecisionRecord,
    Evidence,
    ModelScores,
    decide_promotion,
    evidence_of,
)
from mlops_pipelines.lib.promotion.rules import margin_scale
from mlops_pipelines.lib.training.search import build_pipeline, train_model
from mlops_pipelines.spec import KPI, ProjectSpec, Task

DECIDED_AT = datetime(2011, 3, 15, 6, 0, tzinfo=UTC)


def tiny(spec: ProjectSpec, **training: Any) -> ProjectSpec:
    return spec.model_copy(update={"training": spec.training.model_copy(update=training)})


def gated(spec: ProjectSpec, **promotion: Any) -> ProjectSpec:
    return spec.model_copy(update={"promotion": spec.promotion.model_copy(update=promotion)})


def decide(challenger: ModelScores, champion: ModelScores | None, spec: ProjectSpec) -> DecisionRecord:
    return decide_promotion(evidence_of(challenger, champion), spec, decided_at=DECIDED_AT)


@pytest.fixture(scope="module")
def bike_spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return tiny(specs["bike_sharing"], search_space={"model__max_iter": [60]})


@pytest.fixture(scope="module")
def bike(shared_data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    frame[EVENT_TIME] = pd.to_datetime(frame["dteday"]) + pd.to_timedelta(frame["hr"], unit="h")
    return frame


@pytest.fixture(scope="module")
def march(bike: pd.DataFrame) -> pd.DataFrame:
    """Two fresh weeks of March 2011: the rows every bike model is scored on (about 330)."""
    return bike[(bike[EVENT_TIME] >= "2011-03-01") & (bike[EVENT_TIME] < "2011-03-15")]


@pytest.fixture(scope="module")
def bike_scores(bike: pd.DataFrame, march: pd.DataFrame, bike_spec: ProjectSpec) -> dict[str, ModelScores]:
    """Four bike models scored on the same two fresh weeks of March 2011."""
    train = bike[bike[EVENT_TIME] < "2011-03-01"]
    features, target = build_features(march, bike_spec), build_target(march, bike_spec)

    def scored(version: str, rows: pd.DataFrame) -> ModelScores:
        trained = train_model(build_features(rows, bike_spec), build_target(rows, bike_spec), bike_spec)
        evaluation = evaluate_model(trained.pipeline, features, target, bike_spec, march, importance_rows=0)
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
            "dummy", evaluate_model(dummy, features, target, bike_spec, march, importance_rows=0)
        ),
    }


def errors_scaled(
    scores: ModelScores, version: str, factor: float | np.ndarray, march: pd.DataFrame, spec: ProjectSpec
) -> ModelScores:
    """`scores` with every row's error multiplied by `factor` (one per row, or one for all): with
    one factor its MAE is exactly `factor` x, on every bootstrap resample too, so the
    improvement interval sits at -(factor - 1) x MAE."""
    pred = scores.predictions
    worse = Predictions(pred.index, pred.y_true, pred.y_true + factor * (pred.y_pred - pred.y_true), None)
    metrics, notes = compute_metrics(worse, spec.task)
    evaluation = replace(
        scores.evaluation,
        metrics=metrics,
        notes=notes,
        predictions=worse,
        slices=slice_metrics(worse, march, list(spec.slices), spec.task),
    )
    return ModelScores(version, evaluation)


def test_a_clearly_better_challenger_is_promoted(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide(bike_scores["full"], bike_scores["small"], bike_spec)
    assert record.verdict == "promote", record.reasons
    assert record.champion_version == "small" and record.metric == "mae" and not record.higher_is_better
    assert record.ci_low is not None and record.ci_high is not None and record.improvement is not None
    assert 0 < record.ci_low < record.improvement < record.ci_high
    assert record.challenger_score == bike_scores["full"].evaluation.metrics["mae"]
    assert record.champion_score is not None and record.challenger_score is not None
    assert record.improvement == pytest.approx(record.champion_score - record.challenger_score)
    assert record.compared_rows == record.n_rows == bike_scores["full"].evaluation.n_rows >= 200
    assert record.margin == 0.05 and record.evaluated_version == "full"
    assert all(k.passed for k in record.kpis) and record.kpi_flags == [] and not record.needs_attention
    assert record.slice_regressions == [] and record.fairness_regressions == []
    assert record.reasons[0].endswith("(5.0% of the champion's score): not worse than the champion")


def test_a_worse_challenger_is_rejected_with_its_interval(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide(bike_scores["small"], bike_scores["full"], bike_spec)
    assert record.verdict == "reject"
    assert record.champion_score is not None and record.ci_low is not None and record.ci_high is not None
    assert record.ci_low < record.ci_high < -0.05 * record.champion_score  # worse beyond the margin
    assert record.reasons[0].startswith("challenger mae")
    assert "95% CI of improvement [" in record.reasons[0]
    assert record.reasons[0].endswith("possibly worse than the champion by more than the margin")


def test_an_equal_challenger_is_promoted_because_it_is_not_worse(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    twin = ModelScores("twin", bike_scores["full"].evaluation)
    record = decide(twin, bike_scores["full"], bike_spec)
    assert record.verdict == "promote", record.reasons
    assert record.ci_low == record.ci_high == record.improvement == 0.0
    assert "[0, 0] lies above the non-inferiority bound" in record.reasons[0]


def test_non_inferiority_tolerates_an_uncertain_challenger_not_a_confidently_worse_one(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec, march: pd.DataFrame
) -> None:
    full = bike_scores["full"]
    # Half the rows' errors 20 % larger, half 20 % smaller: no better or worse on the whole, and
    # the interval straddles 0 (the evidence cannot tell the two apart).
    uncertain = decide(noisy(full, "uncertain", 1.0, march, bike_spec, swing=0.2), full, bike_spec)
    assert uncertain.verdict == "promote", uncertain.reasons
    assert uncertain.ci_low is not None and uncertain.ci_high is not None and uncertain.champion_score
    assert -0.05 * uncertain.champion_score < uncertain.ci_low < 0 < uncertain.ci_high
    assert uncertain.reasons[0].endswith("not worse than the champion")
    # 2 % worse on every row: inside the 5 % margin, but the whole interval lies below 0, so the
    # evidence says it is worse and the champion stays.
    slightly = decide(errors_scaled(full, "2% worse", 1.02, march, bike_spec), full, bike_spec)
    assert slightly.verdict == "reject", slightly.reasons
    assert slightly.ci_low is not None and slightly.ci_high is not None and slightly.champion_score
    assert -0.05 * slightly.champion_score < slightly.ci_low <= slightly.ci_high < 0
    assert slightly.reasons[0].endswith("but wholly below 0: confidently worse than the champion")
    clearly = decide(errors_scaled(full, "10% worse", 1.10, march, bike_spec), full, bike_spec)
    assert clearly.verdict == "reject", clearly.reasons
    assert clearly.champion_score is not None and clearly.ci_low is not None
    assert clearly.ci_low < -0.05 * clearly.champion_score
    assert "possibly worse than the champion by more than the margin" in clearly.reasons[0]
    # A wider margin (and slice tolerance) still keeps a model known to be worse out; a zero
    # margin stops the uncertain one too (its interval reaches below 0).
    lenient = decide(
        errors_scaled(full, "10% worse", 1.10, march, bike_spec),
        full,
        gated(bike_spec, non_inferiority_margin=0.2, slice_tolerance=0.2),
    )
    assert lenient.verdict == "reject" and "confidently worse" in lenient.reasons[0]
    strict = decide(
        noisy(full, "uncertain", 1.0, march, bike_spec, swing=0.2),
        full,
        gated(bike_spec, non_inferiority_margin=0.0),
    )
    assert strict.verdict == "reject" and "by more than the margin" in strict.reasons[0]


def test_an_interval_too_wide_for_the_margin_lets_the_point_estimate_decide(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec, march: pd.DataFrame
) -> None:
    """Enough rows by `min_rows`, but errors that swing by +-90 % row to row: the interval is wider
    than the 5 % margin on either side, so not even the champion itself could show
    non-inferiority (a weekly stream's 98 rows under ROC-AUC). The point estimate decides."""
    full = bike_scores["full"]
    better = decide(noisy(full, "wide, better", 0.97, march, bike_spec, swing=0.9), full, bike_spec)
    assert better.compared_rows is not None and better.compared_rows >= bike_spec.promotion.min_rows
    assert better.ci_low is not None and better.ci_high is not None and better.champion_score
    assert better.ci_low < 0 < better.ci_high
    assert (better.ci_high - better.ci_low) / 2 > 0.05 * better.champion_score
    assert better.improvement is not None and better.improvement > 0
    assert better.verdict == "promote", better.reasons
    assert f"no model could show non-inferiority on {better.compared_rows} rows" in better.reasons[0]
    # The twin: as wide, 3 % worse by the point estimate: rejected, as before.
    worse = decide(noisy(full, "wide, worse", 1.03, march, bike_spec, swing=0.9), full, bike_spec)
    assert worse.ci_low is not None and worse.ci_high is not None and worse.ci_low < 0 < worse.ci_high
    assert worse.improvement is not None and worse.improvement < 0
    assert worse.verdict == "reject", worse.reasons
    assert worse.reasons[0].endswith("possibly worse than the champion by more than the margin")
    # A zero margin asks for a strict test: the wide, better one is rejected there.
    strict = decide(
        noisy(full, "wide, better", 0.97, march, bike_spec, swing=0.9),
        full,
        gated(bike_spec, non_inferiority_margin=0.0),
    )
    assert strict.verdict == "reject" and "by more than the margin" in strict.reasons[0]


def _flipped(spec: ProjectSpec, version: str, signal: float, seed: int) -> ModelScores:
    """A model that learned the labels before they flipped meaning, scored after: ROC-AUC near
    0.25. The same base noise for every model, plus a little of its own."""
    n = 3000
    shared = np.random.default_rng(8)
    truth = shared.random(n) < 0.3
    base = shared.random(n)
    own = np.random.default_rng(seed).normal(0, 0.08, n)
    scores = np.clip(signal * ~truth + (1 - signal) * base + own, 0.001, 0.999)
    labels = np.where(truth, ">50K", "<=50K").astype(object)
    pred = Predictions(
        pd.RangeIndex(n),
        labels,
        np.where(scores > 0.5, ">50K", "<=50K").astype(object),
        np.c_[1 - scores, scores],
        ("<=50K", ">50K"),
        ">50K",
    )
    metrics, notes = compute_metrics(pred, spec.task)
    return ModelScores(
        version, Evaluation(spec.task, "roc_auc", n, metrics, [], None, [], None, None, notes, pred)
    )


def test_a_champion_below_chance_keeps_the_margin_of_a_chance_level_one(
    specs: dict[str, ProjectSpec],
) -> None:
    # After a concept flip both models score ROC-AUC 0.25 here: 5 % of that (0.012) rejects this
    # fresher model (a flipped stream lost five of seven that way). The margin is now 5 % of 0.5.
    spec = specs["adult_income"]
    assert (spec.training.primary_metric, spec.promotion.non_inferiority_margin) == ("roc_auc", 0.05)
    champion = _flipped(spec, "champion", 0.25, 1)
    record = decide(_flipped(spec, "fresher", 0.25, 2), champion, spec)
    assert record.champion_score is not None and record.ci_low is not None and record.ci_high is not None
    assert record.champion_score < 0.3 and record.ci_low < 0 < record.ci_high
    assert -0.025 < record.ci_low < -0.05 * record.champion_score  # outside the old margin
    assert record.verdict == "promote", record.reasons
    assert "bound -0.025 (5.0% of 0.5, the span from learning nothing to a perfect score" in record.reasons[0]
    # The twin: a challenger further below chance is still worse, and rejected.
    worse = decide(_flipped(spec, "worse", 0.35, 3), champion, spec)
    assert worse.ci_high is not None and worse.ci_high < 0
    assert worse.verdict == "reject" and "worse than the champion by more than the margin" in worse.reasons[0]
    # Above chance, and for a metric without one, the margin is the champion's own score's; R2
    # spans 0 (the mean) to 1, so a collapsed regression's 0.02 keeps a margin of 5 % of 1.
    assert (margin_scale("roc_auc", 0.8), margin_scale("roc_auc", 0.249), margin_scale("mae", 0.01)) == (
        0.8,
        0.5,
        0.01,
    )
    assert (margin_scale("r2", 0.02), margin_scale("r2", -1.5), margin_scale("accuracy", 0.3)) == (
        1.0,
        1.5,
        0.5,
    )


def _collapsed(spec: ProjectSpec, version: str, seed: int, bias: float = 0.0) -> ModelScores:
    """A regression that explains almost nothing of its target after a change (R2 about 0.01):
    a little of one shared signal plus noise of its own, `bias` off on every row."""
    n = 2000
    shared = np.random.default_rng(11)
    truth = shared.normal(100, 20, n)
    pred_values = 100 + 0.02 * (truth - 100) + np.random.default_rng(seed).normal(0, 3, n) + bias
    pred = Predictions(pd.RangeIndex(n), truth, pred_values, None)
    metrics, notes = compute_metrics(pred, spec.task)
    return ModelScores(
        version, Evaluation(spec.task, "r2", n, metrics, [], None, [], None, None, notes, pred)
    )


def test_a_collapsed_r2_champion_keeps_a_margin_of_the_span_to_a_perfect_score(
    bike_spec: ProjectSpec,
) -> None:
    # Both models explain about nothing (R2 about 0.01), the fresher one 0.003 less on the point
    # estimate, well inside its noise: 5 % of the champion's own R2, a bound of about -0.0005,
    # rejected it. 5 % of R2's span (0 -> 1) lets it serve; one confidently worse is rejected.
    spec = tiny(bike_spec, primary_metric="r2")
    champion = _collapsed(spec, "champion", 1)
    record = decide(_collapsed(spec, "fresher", 13), champion, spec)
    assert record.champion_score is not None and record.ci_low is not None and record.ci_high is not None
    assert abs(record.champion_score) < 0.05 and record.ci_low < -0.05 * abs(record.champion_score)
    assert record.challenger_score is not None and record.challenger_score < record.champion_score
    assert record.ci_low < 0 < record.ci_high
    assert record.verdict == "promote", record.reasons
    assert "bound -0.05 (5.0% of 1, the span from learning nothing to a perfect score" in record.reasons[0]
    # The twin: the same kind of model 5 units off on every row is confidently worse (R2 about
    # 0.06 lower, outside the wider margin too), and rejected.
    worse = decide(_collapsed(spec, "biased", 3, bias=5.0), champion, spec)
    assert worse.ci_high is not None and worse.ci_high < 0
    assert worse.verdict == "reject" and "worse than the champion by more than the margin" in worse.reasons[0]


def test_required_improvement_turns_the_gate_into_a_superiority_test(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    full, small = bike_scores["full"], bike_scores["small"]
    demanding = gated(bike_spec, min_improvement=50.0)
    record = decide(full, small, demanding)
    assert record.verdict == "reject" and record.min_improvement == 50.0
    assert record.ci_low is not None and 0 < record.ci_low <= 50.0  # a real gain, not 50 better
    assert record.reasons[0].endswith("does not clear the required improvement 50 (superiority gate)")
    # A bar the gain clears promotes; an equal challenger never clears a positive bar.
    modest = gated(bike_spec, min_improvement=record.ci_low / 2)
    assert decide(full, small, modest).verdict == "promote"
    twin = ModelScores("twin", full.evaluation)
    assert decide(twin, full, gated(bike_spec, min_improvement=0.001)).verdict == "reject"


def first_rows(scores: ModelScores, n: int, spec: ProjectSpec) -> ModelScores:
    """`scores` on its first `n` rows alone (no slices)."""
    pred = scores.predictions.subset(np.arange(len(scores.predictions.y_true)) < n)
    metrics, notes = compute_metrics(pred, spec.task)
    evaluation = replace(
        scores.evaluation, n_rows=n, metrics=metrics, notes=notes, predictions=pred, slices=[]
    )
    return ModelScores(scores.version, evaluation)


def noisy(
    scores: ModelScores, version: str, base: float, march: pd.DataFrame, spec: ProjectSpec, swing: float = 0.5
) -> ModelScores:
    """`scores` with each row's error scaled by `base` +- `swing` (alternating rows): about
    `base` x its MAE, with a bootstrap interval wider than that difference."""
    signs = np.where(np.arange(len(scores.predictions.y_true)) % 2 == 0, 1.0, -1.0)
    return errors_scaled(scores, version, base + swing * signs, march, spec)


def test_too_few_comparable_rows_promote_a_challenger_at_least_as_good(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec, march: pd.DataFrame
) -> None:
    full, small = bike_scores["full"], bike_scores["small"]
    rows = full.evaluation.n_rows
    short = gated(bike_spec, min_rows=rows + 1)
    few = f"(fewer than {rows + 1} rows: too few to judge non-inferiority)"
    # Clearly better on fewer rows than non-inferiority needs: promoted.
    better = decide(full, small, short)
    assert better.verdict == "promote" and better.compared_rows == rows, better.reasons
    assert better.ci_low is not None and better.ci_low > 0
    assert better.reasons[0].endswith(f"lies above 0: clearly better than the champion {few}")
    # Better by the point estimate only (the interval straddles 0): the fresher model serves.
    slightly = decide(noisy(full, "slightly", 0.97, march, bike_spec), full, short)
    assert slightly.improvement is not None and slightly.improvement > 0, slightly.reasons
    assert slightly.ci_low is not None and slightly.ci_low < 0 < (slightly.ci_high or 0)
    assert slightly.verdict == "promote", slightly.reasons
    assert slightly.reasons[0].endswith(
        f": at least as good on the point estimate and not confidently worse, so the fresher model serves {few}"
    )
    # The failure twins: worse by the point estimate (not confidently) is insufficient evidence, ...
    worse = decide(noisy(full, "worse", 1.03, march, bike_spec), full, short)
    assert worse.improvement is not None and worse.improvement < 0 and (worse.ci_high or 0) > 0
    assert worse.verdict == "insufficient_evidence" and not worse.needs_attention, worse.reasons
    assert worse.reasons[0].endswith(
        "does not show the challenger at least as good, which fewer rows would need)"
    )
    # ... and so is an identical challenger: no evidence at all that swapping helps.
    twin = decide(ModelScores("twin", full.evaluation), full, short)
    assert twin.verdict == "insufficient_evidence" and twin.compared_rows == rows
    assert twin.ci_low == 0.0 and twin.improvement == 0.0 and not twin.needs_attention
    assert twin.reasons[0].startswith(
        f"insufficient evidence: {rows} comparable rows, {rows + 1} needed; champion vfull kept (mae "
    )
    # A spec that asks for a minimum improvement keeps superiority on few rows.
    demanding = decide(
        noisy(full, "slightly", 0.97, march, bike_spec), full, gated(short, min_improvement=0.01)
    )
    assert demanding.verdict == "insufficient_evidence", demanding.reasons
    # With min_rows rows the twin is judged by non-inferiority (and passes: it is not worse).
    assert (
        decide(ModelScores("twin", full.evaluation), full, gated(bike_spec, min_rows=rows)).verdict
        == "promote"
    )
    # Below 30 compared rows no interval is trusted: even the clearly better one is not promoted.
    tiny_rows = decide(first_rows(full, 25, bike_spec), first_rows(small, 25, bike_spec), bike_spec)
    assert tiny_rows.verdict == "insufficient_evidence" and tiny_rows.ci_low is None
    assert tiny_rows.reasons == [
        "insufficient evidence: 25 comparable rows, 200 needed; champion vsmall kept"
    ]
    assert decide(first_rows(full, 40, bike_spec), first_rows(small, 40, bike_spec), bike_spec).verdict == (
        "promote"
    )
    # Every evaluated partition inside the champion's training range: no comparable row at all.
    inside = ("2011-03-01", "2011-03-14")
    evidence = Evidence("full", full.evaluation, inside, champion_version="small", excluded_partitions=inside)
    nothing = decide_promotion(evidence, bike_spec, decided_at=DECIDED_AT)
    assert nothing.verdict == "insufficient_evidence" and nothing.compared_rows == 0
    assert nothing.evaluated_score == full.evaluation.metrics["mae"] and nothing.challenger_score is None
    assert nothing.excluded_partitions == list(inside)
    assert nothing.reasons[0].startswith(
        "insufficient evidence: 0 comparable rows, 200 needed; champion vsmall kept"
    )
    assert "2011-03-01..2011-03-14 (2) lie inside the champion's training range" in nothing.reasons[0]


def test_a_first_model_is_promoted_with_its_kpi_breaches_flagged(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide(bike_scores["dummy"], None, bike_spec)
    assert record.verdict == "promote" and record.needs_attention
    assert record.champion_version is None and record.ci_low is None and record.compared_rows is None
    assert any(
        f.startswith("KPI r2 ") and "breached (no champion to compare with)" in f for f in record.kpi_flags
    )
    assert "flagged for attention" in record.reasons[0] and set(record.kpi_flags) <= set(record.reasons)
    first = decide(bike_scores["full"], None, bike_spec)
    assert first.verdict == "promote" and not first.needs_attention and first.kpi_flags == []
    assert first.reasons == [
        "no champion: the challenger is promoted as the first model (the loop needs a model to serve "
        "and monitor); it meets the KPIs (2 declared)"
    ]


def test_a_challenger_beating_a_champion_in_breach_is_promoted_and_the_breach_flagged(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    full, small = bike_scores["full"], bike_scores["small"]
    assert full.evaluation.metrics["r2"] > small.evaluation.metrics["r2"]
    unreachable = bike_spec.model_copy(update={"kpis": [KPI(metric="r2", floor=0.999)]})
    record = decide(full, small, unreachable)
    assert record.verdict == "promote" and record.needs_attention, record.reasons
    (flag,) = record.kpi_flags
    assert flag.startswith("KPI r2 ") and "but the champion breaches it worse" in flag
    assert flag in record.reasons and not record.kpis[0].passed


def test_a_kpi_breach_blocks_when_the_champion_meets_it_or_breaches_it_less(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec, march: pd.DataFrame
) -> None:
    full = bike_scores["full"]
    near = noisy(full, "1.5% worse", 1.015, march, bike_spec, swing=0.15)  # non-inferior on its own
    mae = full.evaluation.metrics["mae"]
    assert near.evaluation.metrics["mae"] > mae * 1.01
    assert decide(near, full, bike_spec).verdict == "promote"
    between = bike_spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=mae * 1.01)]})
    record = decide(near, full, between)
    assert record.verdict == "reject" and record.kpi_flags and not record.needs_attention
    assert any("breached while the champion meets it" in r for r in record.reasons)
    # Both breach and the challenger is 2 % worse on every row: the KPI blocks, confidently.
    worse = errors_scaled(full, "2% worse", 1.02, march, bike_spec)
    below_both = bike_spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=mae * 0.5)]})
    both = decide(worse, full, below_both)
    assert both.verdict == "reject"
    assert any("worse than the champion's" in r and ", confidently (" in r for r in both.reasons)
    # The twin: both breach and the challenger is worse only by a noisy point estimate: the KPI
    # flags it but does not block (as slices are judged), and non-inferiority promotes it.
    wobbly = noisy(full, "wobbly", 1.005, march, bike_spec, swing=0.1)
    r2 = full.evaluation.metrics["r2"]
    assert wobbly.evaluation.metrics["r2"] < r2
    both_r2 = bike_spec.model_copy(update={"kpis": [KPI(metric="r2", floor=min(r2 + 0.1, 0.999))]})
    flagged = decide(wobbly, full, both_r2)
    assert flagged.verdict == "promote" and flagged.needs_attention, flagged.reasons
    (flag,) = flagged.kpi_flags
    assert "worse than the champion's" in flag and ", but not confidently (improvement interval [" in flag
    assert flag.endswith("]): flagged") and flag in flagged.reasons


def test_a_noisy_slice_does_not_veto_but_a_confidently_worse_one_does(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec, march: pd.DataFrame
) -> None:
    weekdays, small = bike_scores["weekdays"], bike_scores["small"]
    record = decide(weekdays, small, bike_spec)
    assert record.ci_low is not None and record.ci_low > 0  # better overall...
    ours, theirs = weekdays.evaluation.slice("workingday", "0"), small.evaluation.slice("workingday", "0")
    assert ours is not None and theirs is not None and ours.n == 94
    worse = ours.metrics["mae"] / theirs.metrics["mae"] - 1
    assert worse > bike_spec.promotion.slice_tolerance  # ...worse on weekends by its point estimate...
    assert record.verdict == "promote", record.reasons  # ...but on 94 rows that is noise, not evidence
    assert record.slice_regressions == []
    # The failure twin: errors 40% smaller on working days and 30% larger on weekends, on every
    # row, so the weekend slice is worse on every resample.
    full = bike_scores["full"]
    weekend = (march.loc[full.predictions.index, "workingday"] == 0).to_numpy()
    skewed = errors_scaled(full, "skewed", np.where(weekend, 1.3, 0.6), march, bike_spec)
    vetoed = decide(skewed, full, bike_spec)
    assert vetoed.ci_low is not None and vetoed.ci_low > 0  # better overall...
    assert vetoed.verdict == "reject"  # ...but confidently worse on weekends
    (regression,) = vetoed.slice_regressions
    assert (regression.column, regression.value, regression.n) == ("workingday", "0", 94)
    assert regression.relative_worsening == pytest.approx(0.3)
    assert regression.ci_high is not None
    assert regression.ci_high < -bike_spec.promotion.slice_tolerance * regression.champion
    assert any(r.startswith("slice workingday=0 (n=94): challenger mae") for r in vetoed.reasons)
    lenient = gated(bike_spec, slice_tolerance=0.5)
    assert decide(skewed, full, lenient).verdict == "promote"


def test_decision_record_round_trips_as_json(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    record = decide(bike_scores["weekdays"], bike_scores["small"], bike_spec)
    again = DecisionRecord.model_validate_json(record.to_json())
    assert again == record
    assert again.decided_at == DECIDED_AT
    # Same inputs, same seed: the same decision, interval included.
    assert decide(bike_scores["weekdays"], bike_scores["small"], bike_spec) == record


def test_models_scored_on_different_rows_cannot_be_compared(
    bike_scores: dict[str, ModelScores], bike_spec: ProjectSpec
) -> None:
    full = bike_scores["full"].evaluation
    shifted = Predictions(full.predictions.index + 1, full.predictions.y_true, full.predictions.y_pred, None)
    other = ModelScores("other", replace(full, predictions=shifted))
    with pytest.raises(ValueError, match="not scored on the same holdout rows"):
        evidence_of(other, bike_scores["small"])
    evidence_of(ModelScores("same", full), bike_scores["small"])  # the same rows pair up


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
    record = decide(challenger, champion, spec)
    assert record.ci_low is not None and record.ci_low > 0  # better ROC-AUC overall...
    assert record.verdict == "reject"  # ...by missing high-earning women
    gaps = {(f.attribute, f.metric): f.increase for f in record.fairness_regressions}
    assert gaps[("sex", "equal_opportunity_difference")] > 0.15
    assert any(r.startswith("fairness sex equal_opportunity_difference: challenger") for r in record.reasons)
    # The same rows with honest labels: no gender gap opens up.
    fair = scored("fair", large, build_target(large, spec))
    fair_record = decide(fair, champion, spec)
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
