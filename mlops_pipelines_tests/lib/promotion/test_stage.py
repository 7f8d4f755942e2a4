"""The champion stage without Dagster: the gate (v2) on real models, the refit that goes live,
the compare-and-set, the ChampionRef of whoever serves afterwards, and the rollback.

The features table holds 24 days of January 2011. A challenger trained now is evaluated on
Jan 18..23; a champion it can be compared with was trained as of `EARLIER`, so its go-live
refit (on its whole window, Jan 1..17) never saw those days. Six days of hourly rows are about
140, below the default `promotion.min_rows` of 200: `comparable` lowers it to 100.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.evaluation.stage import EvaluationReport, evaluate_challenger
from mlops_pipelines.lib.promotion.decision import DecisionRecord
from mlops_pipelines.lib.promotion.stage import (
    ChampionRescoreError,
    EvaluationMismatchError,
    GateInputError,
    apply_decision,
    champion_stage,
    decide_and_promote,
    judge_challenger,
    serving_champion,
)
from mlops_pipelines.lib.registry.aliases import (
    PromotionConflict,
    RollbackError,
    aliases,
    get_version,
    list_versions,
)
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.lib.training.stage import train_challenger
from mlops_pipelines.spec import KPI, ProjectSpec
from mlops_pipelines_tests.lib.model_support import ReportDir, weak

EARLIER = "2011-01-18"  # a champion's as-of whose whole window ends before the challenger's evaluation


def comparable(spec: ProjectSpec) -> ProjectSpec:
    return spec.model_copy(update={"promotion": spec.promotion.model_copy(update={"min_rows": 100})})


def relaxed(spec: ProjectSpec) -> ProjectSpec:
    """The weak model without KPIs: a champion any reasonable challenger beats."""
    return comparable(weak(spec)).model_copy(update={"kpis": []})


@dataclass
class RecordedAlerts:
    sent: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None:
        self.sent.append((project, severity, title, details))


def trained(
    spec: ProjectSpec,
    tables: DeltaTables,
    tracking: TrackingConfig,
    reports: ReportDir,
    as_of: str | None = None,
) -> tuple[ModelArtifact, EvaluationReport]:
    model = train_challenger(spec, tables, tracking, as_of=as_of, reason="test")
    return model, evaluate_challenger(spec, model, tables, tracking, reports)


def tags_of(tracking: TrackingConfig, version: str) -> dict[str, str]:
    return get_version(tracking, "bike_sharing", version).tags


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "bike_sharing.promotion.lock"


def test_first_model_is_refit_and_the_refit_named_champion_from_its_tags(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    alerts = RecordedAlerts()
    model, evaluation = trained(bike_spec, bike_tables, tracking, reports)
    outcome = decide_and_promote(
        bike_spec, model, evaluation, bike_tables, tracking, lock, reports, alerts=alerts
    )
    decision = outcome.decision
    assert decision.verdict == "promote" and not decision.needs_attention and alerts.sent == []
    # The evaluated v1 is refit on its whole window as v2, and v2 goes live.
    assert (outcome.champion_before, outcome.champion_after) == (None, "2")
    assert (decision.evaluated_version, decision.refit_version) == ("1", "2")
    assert any(r.startswith("live as v2: refit of v1 on the whole window") for r in decision.reasons)
    assert tags_of(tracking, "2")[names.ML_REFIT_OF] == "1"
    assert tags_of(tracking, "1")[names.ML_REFIT_VERSION] == "2"
    assert DecisionRecord.model_validate_json(tags_of(tracking, "2")[names.ML_PROMOTION_DECISION]) == decision
    record = json.loads(Path(outcome.decision_record_path).read_text())
    assert record["verdict"] == "promote" and record["champion_version"] is None
    assert (record["challenger_version"], record["refit_version"]) == ("1", "2")
    ref = serving_champion(outcome)
    assert (ref.version, ref.source) == ("2", "promotion")
    assert ref.run_id is not None and ref.run_id != model.run_id  # the refit's own run
    assert ref.features_version == model.features_version
    assert ref.train_range == (model.window.train[0], model.window.holdout[-1])  # the whole window
    assert ref.as_of == model.window.as_of == "2011-01-24"
    assert evaluation.evaluation is not None
    assert ref.metric == "mae" and ref.evaluated_score == evaluation.evaluation.metrics["mae"]
    assert ref.evaluated_score == decision.challenger_score
    assert ref.evaluated_rows == evaluation.evaluation.n_rows
    assert ref.decided_at == decision.decided_at.isoformat()
    # A retried step finds the refit live already: nothing is refit or registered again.
    again = decide_and_promote(
        bike_spec, model, evaluation, bike_tables, tracking, lock, reports, alerts=alerts
    )
    assert again.decision == decision and again.champion_after == "2"
    assert sorted(v.version for v in list_versions(tracking, "bike_sharing")) == ["1", "2"]
    assert aliases(tracking, "bike_sharing")["champion"] == "2" and alerts.sent == []


def test_worse_challenger_is_rejected_and_the_champion_kept(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    strong = comparable(bike_spec)
    first, first_eval = trained(strong, bike_tables, tracking, reports, as_of=EARLIER)
    decide_and_promote(strong, first, first_eval, bike_tables, tracking, lock, reports)
    live = get_version(tracking, "bike_sharing", "2")
    assert live.tags[names.ML_TRAIN_PARTITIONS] == f"2011-01-01..{first.window.holdout[-1]}"
    worse, worse_eval = trained(comparable(weak(bike_spec)), bike_tables, tracking, reports)
    assert min(worse.window.holdout) > first.window.holdout[-1]  # the champion never saw these rows
    outcome = decide_and_promote(
        comparable(weak(bike_spec)), worse, worse_eval, bike_tables, tracking, lock, reports
    )
    decision = outcome.decision
    assert decision.verdict == "reject" and decision.champion_version == "2", decision.reasons
    assert decision.excluded_partitions == [] and decision.compared_rows == decision.n_rows >= 100
    assert decision.champion_score is not None and decision.ci_low is not None
    assert decision.ci_low < -decision.margin * decision.champion_score
    assert decision.refit_version is None
    assert (outcome.champion_before, outcome.champion_after) == ("2", "2")
    ref = serving_champion(outcome)
    assert (ref.version, ref.source, ref.run_id) == ("2", "kept", live.run_id)
    assert aliases(tracking, "bike_sharing")["champion"] == "2"
    assert "rejected_at" in tags_of(tracking, worse.version)


def test_few_rows_judge_the_point_estimate_and_rows_the_champion_trained_on_do_not_count(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    first, first_eval = trained(relaxed(bike_spec), bike_tables, tracking, reports, as_of=EARLIER)
    decide_and_promote(relaxed(bike_spec), first, first_eval, bike_tables, tracking, lock, reports)
    model, evaluation = trained(bike_spec, bike_tables, tracking, reports)
    # Default min_rows (200): about 140 out-of-sample rows are too few to judge non-inferiority;
    # a challenger that beats the weak champion (here by a clear margin) is promoted on them.
    few = judge_challenger(bike_spec, model, evaluation, bike_tables, tracking).decision
    assert few.verdict == "promote" and few.champion_version == "2", few.reasons
    assert few.compared_rows is not None and 100 <= few.compared_rows < 200
    # The evaluation reached back past the 6-day holdout for 200 rows (`evaluation_size`); what
    # it reached lies in the champion's training range (or in a fold fitted on older data than
    # the champion) and is left out of the comparison: the oldest evaluated partitions.
    evaluated = list(model.window.evaluation)
    assert few.evaluated_partitions == evaluated and len(evaluated) > 6
    excluded = few.excluded_partitions
    assert excluded and excluded == evaluated[: len(excluded)] and len(excluded) < len(evaluated) - 4
    assert few.reasons[0].endswith(
        "clearly better than the champion (fewer than 200 rows: too few to judge non-inferiority)"
    )
    # Asked for more than it gains (a superiority gate), it is not clearly better: too few rows.
    demanding = bike_spec.model_copy(
        update={"promotion": bike_spec.promotion.model_copy(update={"min_improvement": 1e6})}
    )
    short = judge_challenger(demanding, model, evaluation, bike_tables, tracking).decision
    assert short.verdict == "insufficient_evidence" and short.compared_rows == few.compared_rows
    assert short.reasons[0].startswith(
        f"insufficient evidence: {few.compared_rows} comparable rows, 200 needed"
    )
    # With min_rows 100 the same rows are enough for non-inferiority, and the challenger wins.
    promoted = decide_and_promote(
        comparable(bike_spec), model, evaluation, bike_tables, tracking, lock, reports
    )
    assert promoted.decision.verdict == "promote", promoted.decision.reasons
    assert promoted.champion_after == "4"  # the refit of the challenger, v3
    # The new champion's refit trained on Jan 18..23: a challenger evaluated there has no
    # comparable row left, however low min_rows is.
    other, other_eval = trained(relaxed(bike_spec), bike_tables, tracking, reports)
    outcome = decide_and_promote(relaxed(bike_spec), other, other_eval, bike_tables, tracking, lock, reports)
    decision = outcome.decision
    assert decision.verdict == "insufficient_evidence" and decision.compared_rows == 0
    assert decision.excluded_partitions == list(other.window.holdout)
    reason = decision.reasons[0]
    assert (
        "lie inside the champion's training range or were predicted by a fold fitted on older data" in reason
    )
    assert (outcome.champion_before, outcome.champion_after) == ("4", "4")
    assert serving_champion(outcome).source == "kept"


def test_a_first_model_breaching_a_kpi_is_promoted_flagged_and_alerted(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    strict = bike_spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=0.001)]})
    alerts = RecordedAlerts()
    model, evaluation = trained(strict, bike_tables, tracking, reports)
    outcome = decide_and_promote(
        strict, model, evaluation, bike_tables, tracking, lock, reports, alerts=alerts
    )
    decision = outcome.decision
    assert decision.verdict == "promote" and decision.needs_attention and outcome.champion_after == "2"
    (flag,) = decision.kpi_flags
    assert flag.startswith("KPI mae ") and flag.endswith("breached (no champion to compare with)")
    [(project, severity, title, details)] = alerts.sent
    assert (project, severity, title) == ("bike_sharing", "warning", "promoted with KPI breaches")
    assert details == {"version": "2", "kpi_flags": [flag]}
    assert serving_champion(outcome).source == "promotion"


def test_a_champion_that_moved_while_the_gate_scored_conflicts(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    first, first_eval = trained(relaxed(bike_spec), bike_tables, tracking, reports, as_of=EARLIER)
    decide_and_promote(relaxed(bike_spec), first, first_eval, bike_tables, tracking, lock, reports)
    spec = comparable(bike_spec)
    reseeded = spec.model_copy(update={"training": spec.training.model_copy(update={"seed": 7})})
    second, second_eval = trained(spec, bike_tables, tracking, reports)
    third, third_eval = trained(reseeded, bike_tables, tracking, reports)
    assert (second.version, third.version) == ("3", "4")
    judged_second = judge_challenger(spec, second, second_eval, bike_tables, tracking)
    judged_third = judge_challenger(reseeded, third, third_eval, bike_tables, tracking)
    assert judged_third.decision.verdict == "promote" and judged_third.champion_before == "2"
    won = apply_decision(spec, judged_second, bike_tables, tracking, lock, reports)  # v3 wins the race
    assert won.champion_after == "5" and won.decision.refit_version == "5"
    with pytest.raises(PromotionConflict, match="champion is 5, expected 2"):
        apply_decision(reseeded, judged_third, bike_tables, tracking, lock, reports)
    assert aliases(tracking, "bike_sharing")["champion"] == "5"


def test_gate_refuses_an_unloadable_evaluation_or_one_of_another_model(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    model, evaluation = trained(bike_spec, bike_tables, tracking, reports)
    broken = EvaluationReport(
        model.version, model.run_id, model.artifact_sha256, None, (), None, "ModelLoadError: x"
    )
    with pytest.raises(GateInputError, match="version 1 is not promotable: ModelLoadError: x"):
        decide_and_promote(bike_spec, model, broken, bike_tables, tracking, lock, reports)
    other = EvaluationReport("7", "run", "sha", None, (), None, None)
    with pytest.raises(
        EvaluationMismatchError, match=r"evaluation is of version 7 .*the challenger is version 1"
    ):
        decide_and_promote(bike_spec, model, other, bike_tables, tracking, lock, reports)
    # Same version number, another run or artifact: still another model's evaluation.
    for forged in (replace(evaluation, run_id="another-run"), replace(evaluation, artifact_sha256="0" * 64)):
        with pytest.raises(EvaluationMismatchError, match="evaluate the challenger first"):
            decide_and_promote(bike_spec, model, forged, bike_tables, tracking, lock, reports)
    # A second model's genuine evaluation handed on with the first model.
    second, second_eval = trained(weak(bike_spec), bike_tables, tracking, reports)
    with pytest.raises(EvaluationMismatchError, match=f"evaluation is of version {second.version} "):
        decide_and_promote(bike_spec, model, second_eval, bike_tables, tracking, lock, reports)
    with pytest.raises(GateInputError, match="needs the evaluation upstream"):
        champion_stage("gate", bike_spec, model, None, bike_tables, tracking, lock, reports)
    assert "champion" not in aliases(tracking, "bike_sharing")
    # The failure twin: the model's own evaluation is judged.
    outcome = decide_and_promote(bike_spec, model, evaluation, bike_tables, tracking, lock, reports)
    assert outcome.decision.evaluated_version == model.version and outcome.champion_after is not None


def test_a_champion_that_cannot_be_rescored_fails_closed_with_an_alert(
    bike_spec: ProjectSpec,
    bike_tables: DeltaTables,
    tracking: TrackingConfig,
    reports: ReportDir,
    lock: Path,
    tmp_path: Path,
) -> None:
    first, first_eval = trained(relaxed(bike_spec), bike_tables, tracking, reports, as_of=EARLIER)
    decide_and_promote(relaxed(bike_spec), first, first_eval, bike_tables, tracking, lock, reports)
    challenger, evaluation = trained(comparable(bike_spec), bike_tables, tracking, reports)
    before = aliases(tracking, "bike_sharing")
    assert (before["champion"], before["challenger"]) == ("2", challenger.version)
    with open_client(tracking) as client:
        source = client.get_model_version("bike_sharing", "2").source
    found = list((tmp_path / "state" / "mlartifacts").rglob("model.pkl"))
    model_id = re.search(r"m-[0-9a-f]{32}", source)
    assert model_id is not None, source
    matches = [p for p in found if model_id.group() in p.parts]
    assert len(matches) == 1, (source, found)
    pickle = matches[0]
    pickle.write_bytes(pickle.read_bytes()[:-10] + b"tampered!!")
    alerts = RecordedAlerts()
    with pytest.raises(
        ChampionRescoreError, match=r"champion v2 could not be re-scored .*ModelIntegrityError"
    ):
        decide_and_promote(
            comparable(bike_spec), challenger, evaluation, bike_tables, tracking, lock, reports, alerts=alerts
        )
    [(project, severity, title, details)] = alerts.sent
    assert (project, severity, title) == (
        "bike_sharing",
        "error",
        "champion could not be re-scored: no promotion",
    )
    assert "champion v2" in details["error"]
    assert aliases(tracking, "bike_sharing") == before  # nothing moved, nothing refit
    assert not {"rejected_at", names.ML_REFIT_VERSION} & set(tags_of(tracking, challenger.version))
    assert len(list_versions(tracking, "bike_sharing")) == 3
    assert not (reports.root / "bike_sharing" / "decisions" / f"v{challenger.version}.json").exists()


def test_rollback_restores_the_previous_champion_once(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir, lock: Path
) -> None:
    with pytest.raises(RollbackError, match="no registered model named 'bike_sharing'"):
        champion_stage("rollback", bike_spec, None, None, bike_tables, tracking, lock, reports)
    first, first_eval = trained(relaxed(bike_spec), bike_tables, tracking, reports, as_of=EARLIER)
    champion_stage("gate", relaxed(bike_spec), first, first_eval, bike_tables, tracking, lock, reports)
    first_live = get_version(tracking, "bike_sharing", "2")
    spec = comparable(bike_spec)
    second, second_eval = trained(spec, bike_tables, tracking, reports)
    promoted = champion_stage("gate", spec, second, second_eval, bike_tables, tracking, lock, reports)
    assert promoted.champion.version == "4" and promoted.champion.source == "promotion"
    assert promoted.champion_before == "2"
    update = champion_stage("rollback", spec, None, None, bike_tables, tracking, lock, reports)
    assert update.outcome is None and update.champion_before == "4"
    ref = update.champion
    assert (ref.version, ref.source, ref.run_id) == ("2", "rollback", first_live.run_id)
    assert ref.train_range == (first.window.train[0], first.window.holdout[-1]) and ref.metric == "mae"
    assert ref.decided_at is not None
    assert aliases(tracking, "bike_sharing")["champion"] == "2"
    with pytest.raises(RollbackError, match="bike_sharing: no previous champion to roll back to"):
        champion_stage("rollback", spec, None, None, bike_tables, tracking, lock, reports)
