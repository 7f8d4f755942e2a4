"""The champion stage without Dagster: the gate on real models, the compare-and-set, the
ChampionRef of whoever serves afterwards, and the rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_pipelines.lib.evaluation.stage import EvaluationReport, evaluate_challenger
from mlops_pipelines.lib.promotion.stage import (
    GateInputError,
    apply_decision,
    champion_stage,
    decide_and_promote,
    judge_challenger,
    serving_champion,
)
from mlops_pipelines.lib.registry.aliases import PromotionConflict, RollbackError, aliases
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.lib.training.stage import train_challenger
from mlops_pipelines.spec import KPI, ProjectSpec
from mlops_pipelines_tests.lib.model_support import ReportDir, weak


def trained(
    spec: ProjectSpec, tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir
) -> tuple[ModelArtifact, EvaluationReport]:
    model = train_challenger(spec, tables, tracking, as_of=None, reason="test")
    return model, evaluate_challenger(spec, model, tables, tracking, reports)


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "bike_sharing.promotion.lock"


def test_first_model_is_promoted_and_named_champion_from_its_tags(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    model, evaluation = trained(bike_spec, bike_tables, tracking, reports)
    outcome = decide_and_promote(bike_spec, model, evaluation, bike_tables, tracking, lock, reports)
    assert outcome.decision.verdict == "promote"
    assert (outcome.champion_before, outcome.champion_after) == (None, "1")
    record = json.loads(Path(outcome.decision_record_path).read_text())
    assert record["verdict"] == "promote" and record["champion_version"] is None
    ref = serving_champion(outcome)
    assert (ref.version, ref.source, ref.run_id) == ("1", "promotion", model.run_id)
    assert ref.features_version == model.features_version
    assert ref.train_range == (model.window.train[0], model.window.train[-1])
    assert ref.as_of == model.window.as_of == "2011-01-24"
    assert ref.metric == "mae" and ref.evaluated_score == outcome.decision.challenger_score
    assert evaluation.evaluation is not None
    assert ref.evaluated_score == evaluation.evaluation.metrics["mae"]
    assert ref.evaluated_rows == evaluation.evaluation.n_rows
    assert ref.decided_at == outcome.decision.decided_at.isoformat()


def test_worse_challenger_is_rejected_and_the_champion_kept(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    first, first_eval = trained(bike_spec, bike_tables, tracking, reports)
    decide_and_promote(bike_spec, first, first_eval, bike_tables, tracking, lock, reports)
    worse, worse_eval = trained(weak(bike_spec), bike_tables, tracking, reports)
    outcome = decide_and_promote(weak(bike_spec), worse, worse_eval, bike_tables, tracking, lock, reports)
    assert outcome.decision.verdict == "reject" and outcome.decision.champion_version == "1"
    assert (outcome.champion_before, outcome.champion_after) == ("1", "1")
    ref = serving_champion(outcome)
    assert (ref.version, ref.source, ref.run_id) == ("1", "kept", first.run_id)
    assert aliases(tracking, "bike_sharing")["champion"] == "1"


def test_rejected_first_model_leaves_no_champion(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    strict = bike_spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=0.001)]})
    model, evaluation = trained(strict, bike_tables, tracking, reports)
    outcome = decide_and_promote(strict, model, evaluation, bike_tables, tracking, lock, reports)
    assert outcome.decision.verdict == "reject" and outcome.champion_after is None
    ref = serving_champion(outcome)
    assert (ref.version, ref.source, ref.exists) == (None, "none", False)


def test_a_champion_that_moved_while_the_gate_scored_conflicts(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    relaxed = weak(bike_spec).model_copy(update={"kpis": []})
    first, first_eval = trained(relaxed, bike_tables, tracking, reports)
    decide_and_promote(relaxed, first, first_eval, bike_tables, tracking, lock, reports)
    second, second_eval = trained(bike_spec, bike_tables, tracking, reports)
    third, third_eval = trained(bike_spec, bike_tables, tracking, reports)
    judged_second = judge_challenger(bike_spec, second, second_eval, bike_tables, tracking)
    judged_third = judge_challenger(bike_spec, third, third_eval, bike_tables, tracking)
    assert judged_third.decision.verdict == "promote" and judged_third.champion_before == "1"
    apply_decision(bike_spec, judged_second, tracking, lock, reports)  # v2 wins the race
    with pytest.raises(PromotionConflict, match="champion is 2, expected 1"):
        apply_decision(bike_spec, judged_third, tracking, lock, reports)
    assert aliases(tracking, "bike_sharing")["champion"] == "2"


def test_gate_refuses_an_unloadable_or_mismatched_evaluation(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")
    broken = EvaluationReport(
        model.version, model.run_id, model.artifact_sha256, None, (), None, "ModelLoadError: x"
    )
    with pytest.raises(GateInputError, match="version 1 is not promotable: ModelLoadError: x"):
        decide_and_promote(bike_spec, model, broken, bike_tables, tracking, lock, reports)
    other = EvaluationReport("7", "run", "sha", None, (), None, None)
    with pytest.raises(GateInputError, match="evaluation is of version 7, the challenger is version 1"):
        decide_and_promote(bike_spec, model, other, bike_tables, tracking, lock, reports)
    with pytest.raises(GateInputError, match="needs the evaluation upstream"):
        champion_stage("gate", bike_spec, model, None, bike_tables, tracking, lock, reports)
    assert "champion" not in aliases(tracking, "bike_sharing")


def test_rollback_restores_the_previous_champion_once(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    with pytest.raises(RollbackError, match="no registered model named 'bike_sharing'"):
        champion_stage("rollback", bike_spec, None, None, bike_tables, tracking, lock, reports)
    relaxed = weak(bike_spec).model_copy(update={"kpis": []})
    first, first_eval = trained(relaxed, bike_tables, tracking, reports)
    champion_stage("gate", relaxed, first, first_eval, bike_tables, tracking, lock, reports)
    second, second_eval = trained(bike_spec, bike_tables, tracking, reports)
    promoted = champion_stage("gate", bike_spec, second, second_eval, bike_tables, tracking, lock, reports)
    assert promoted.champion.version == "2" and promoted.champion.source == "promotion"
    update = champion_stage("rollback", bike_spec, None, None, bike_tables, tracking, lock, reports)
    assert update.outcome is None and update.champion_before == "2"
    ref = update.champion
    assert (ref.version, ref.source, ref.run_id) == ("1", "rollback", first.run_id)
    assert ref.train_range == (first.window.train[0], first.window.train[-1]) and ref.metric == "mae"
    assert ref.decided_at is not None
    assert aliases(tracking, "bike_sharing")["champion"] == "1"
    with pytest.raises(RollbackError, match="bike_sharing: no previous champion to roll back to"):
        champion_stage("rollback", bike_spec, None, None, bike_tables, tracking, lock, reports)
