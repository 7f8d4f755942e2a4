"""The champion stage: the gate decides, the registry aliases move only on `promote`.

`decide_and_promote` is what the `champion` asset does after a retrain, without Dagster. The
challenger is the model produced upstream in this lineage; its evaluation must be of exactly
that model (version, run and artifact). The serving champion is re-scored on the same
evaluation rows (`evidence`); if that fails the stage alerts and raises (fail closed). The
verdict (`gate`) is applied by `apply_decision`: on promote, the winner is refit on the whole
window and the refit version, carrying its evaluated level and performance estimator
(`golive`), becomes champion with a compare-and-set under the promotion lock (if the champion
moved while the gate was scoring, PromotionConflict instead of overwriting a newer decision);
a rejection or insufficient evidence is recorded on the challenger and the champion stays.
With `promotion.approval.required` a promote verdict stops before the aliases move: it becomes
`pending` for a person (`manual.request_pending`). `champion_stage` is the asset's one call:
the gate, or a rollback / approval under the same lock (`manual`), each ending in the
`ChampionRef` of whichever version serves afterwards.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.promotion.champion import ChampionRef, ChampionSource
from mlops_pipelines.lib.promotion.evidence import (
    ChampionRescoreError,
    EvaluationMismatchError,
    GateInputError,
)
from mlops_pipelines.lib.promotion.outcome import ChampionAction, ChampionUpdate, Judgement, PromotionOutcome
from mlops_pipelines.lib.promotion.refs import champion_ref_of

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_pipelines.lib.evaluation.stage import EvaluationReport
    from mlops_pipelines.lib.ports import Alerts, ReportFiles, TableStore
    from mlops_pipelines.lib.promotion.decision import DecisionRecord
    from mlops_pipelines.lib.promotion.manual import ChampionRequest
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import ModelArtifact, RunContext
    from mlops_pipelines.spec import ProjectSpec

__all__ = [
    "ChampionRescoreError",
    "ChampionUpdate",
    "EvaluationMismatchError",
    "GateInputError",
    "Judgement",
    "PromotionOutcome",
    "apply_decision",
    "champion_stage",
    "decide_and_promote",
    "judge_challenger",
    "serving_champion",
]

log = logging.getLogger(__name__)

DECISIONS = "decisions"  # the report kind decision records are filed under


def judge_challenger(
    spec: ProjectSpec,
    model: ModelArtifact,
    evaluation: EvaluationReport,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    decided_at: datetime | None = None,
) -> Judgement:
    """The gate's verdict on `model` against the current champion, both on the same rows.

    Raises EvaluationMismatchError (another model's evaluation), GateInputError (not promotable,
    already champion) and ChampionRescoreError (the champion cannot be re-scored).
    """
    from mlops_pipelines.lib.promotion.evidence import applied_decision, gather_evidence
    from mlops_pipelines.lib.promotion.gate import decide_promotion
    from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias

    mismatch = evaluation.mismatch(model)
    if mismatch is not None:
        raise EvaluationMismatchError(f"{spec.name}: {mismatch}: evaluate the challenger first")
    if evaluation.evaluation is None:
        raise GateInputError(
            f"{spec.name}: version {model.version} is not promotable: {evaluation.load_error}"
        )
    current = get_alias(tracking, spec.name, CHAMPION)
    if current is not None and current.version == model.version:
        raise GateInputError(f"{spec.name}: version {model.version} is already the champion")
    if current is not None and current.tags.get(names.ML_REFIT_OF) == model.version:
        decision = applied_decision(spec, current)
        return Judgement(decision, current.version, model, evaluation, None, already_live=True)
    gathered = gather_evidence(spec, evaluation, current, tables, tracking)
    decision = decide_promotion(gathered.evidence, spec, decided_at=decided_at or datetime.now(UTC))
    return Judgement(decision, None if current is None else current.version, model, evaluation, gathered.rows)


def _promote(
    spec: ProjectSpec,
    judgement: Judgement,
    tables: TableStore,
    tracking: TrackingConfig,
    lock_path: Path,
    run_context: RunContext | None,
    alerts: Alerts | None,
) -> DecisionRecord:
    """Refit, tag and alias the serving version (or hold it for approval); record the verdict on
    the evaluated version."""
    from mlops_pipelines.lib.promotion.golive import go_live
    from mlops_pipelines.lib.promotion.manual import actor_of, request_pending
    from mlops_pipelines.lib.registry.aliases import promote
    from mlops_pipelines.lib.registry.versions import record_decision, set_version_tags

    model, decision = judgement.model, judgement.decision
    live_version = decision.refit_version or model.version
    if not judgement.already_live:
        assert judgement.rows is not None and judgement.report.evaluation is not None
        live = go_live(
            spec,
            model,
            decision,
            judgement.report.evaluation,
            judgement.rows,
            tables,
            tracking,
            run_context=run_context,
        )
        decision, live_version = live.decision, live.version
        if spec.promotion.approval.required:
            before, actor = judgement.champion_before, actor_of(run_context)
            decision = request_pending(
                spec, decision, live_version, before, tracking, lock_path, alerts=alerts, actor=actor
            )
        else:
            promote(
                tracking,
                spec.name,
                live_version,
                decision.to_json(),
                lock_path,
                expected_champion=judgement.champion_before,
                settles=model.version,
                actor=actor_of(run_context),
            )
    if live_version != model.version:
        record_decision(tracking, spec.name, model.version, "gate", decision.to_json())
        set_version_tags(tracking, spec.name, model.version, {names.ML_REFIT_VERSION: live_version})
    return decision


def apply_decision(
    spec: ProjectSpec,
    judgement: Judgement,
    tables: TableStore,
    tracking: TrackingConfig,
    lock_path: Path,
    reports: ReportFiles,
    *,
    run_context: RunContext | None = None,
    alerts: Alerts | None = None,
) -> PromotionOutcome:
    """Promote (refit first, compare-and-set against `judgement.champion_before`, under the lock),
    hold it for approval, or record the rejection / insufficient evidence; retire old versions,
    file the decision."""
    from mlops_pipelines.lib.promotion.manual import actor_of
    from mlops_pipelines.lib.registry.aliases import (
        CHAMPION,
        get_alias,
        record_rejection,
        retire_old_versions,
    )

    decision = judgement.decision
    version = decision.challenger_version
    if decision.verdict == "promote":
        decision = _promote(spec, judgement, tables, tracking, lock_path, run_context, alerts)
    else:
        record_rejection(tracking, spec.name, version, decision.to_json())
    keep = spec.promotion.keep_versions
    retired = retire_old_versions(tracking, spec.name, keep, lock_path, actor=actor_of(run_context))
    record_path = reports.path(spec.name, DECISIONS, f"v{version}.json")
    record_path.write_text(decision.to_json(), encoding="utf-8")
    return PromotionOutcome(
        decision=decision,
        champion_before=judgement.champion_before,
        after=get_alias(tracking, spec.name, CHAMPION),
        retired_versions=tuple(retired),
        decision_record_path=str(record_path),
    )


def decide_and_promote(
    spec: ProjectSpec,
    model: ModelArtifact,
    evaluation: EvaluationReport,
    tables: TableStore,
    tracking: TrackingConfig,
    lock_path: Path,
    reports: ReportFiles,
    *,
    alerts: Alerts | None = None,
    run_context: RunContext | None = None,
    decided_at: datetime | None = None,
) -> PromotionOutcome:
    """The gate's verdict on `model`, applied to the registry.

    A champion that cannot be re-scored is alerted (severity error) and ChampionRescoreError
    raised: nothing moves. A promotion that needs attention (a KPI breached) is alerted too.
    """
    from mlops_pipelines.lib.promotion.manual import send_alert

    try:
        judgement = judge_challenger(spec, model, evaluation, tables, tracking, decided_at=decided_at)
    except ChampionRescoreError as err:
        send_alert(
            alerts, spec.name, "error", "champion could not be re-scored: no promotion", {"error": str(err)}
        )
        raise
    outcome = apply_decision(
        spec, judgement, tables, tracking, lock_path, reports, run_context=run_context, alerts=alerts
    )
    decision = outcome.decision
    if decision.needs_attention and decision.verdict == "promote" and not judgement.already_live:
        details = {"version": outcome.champion_after, "kpi_flags": decision.kpi_flags}
        send_alert(alerts, spec.name, "warning", "promoted with KPI breaches", details)
    return outcome


def serving_champion(outcome: PromotionOutcome) -> ChampionRef:
    """The serving champion after the gate: "promotion" when the challenger won, "kept" when it
    lost to (or could not be judged against) an existing champion, "none" when there is none."""
    decision = outcome.decision
    if outcome.after is None:
        return ChampionRef.absent(decision.project)
    source: ChampionSource = "promotion" if decision.verdict == "promote" else "kept"
    return champion_ref_of(decision.project, outcome.after, source, decision.decided_at.isoformat())


def champion_stage(
    action: ChampionAction,
    spec: ProjectSpec,
    model: ModelArtifact | None,
    evaluation: EvaluationReport | None,
    tables: TableStore,
    tracking: TrackingConfig,
    lock_path: Path,
    reports: ReportFiles,
    *,
    alerts: Alerts | None = None,
    run_context: RunContext | None = None,
    request: ChampionRequest | None = None,
) -> ChampionUpdate:
    """One move of the champion: the gate on the challenger upstream, a rollback, or a person's
    approval; approvals left pending past their expiry are rejected first."""
    from mlops_pipelines.lib.promotion.manual import ChampionRequest, expire_stale, manual_champion

    expire_stale(spec, tracking, lock_path, alerts)
    if action != "gate":
        asked = request or ChampionRequest()
        before, champion = manual_champion(
            action, spec, asked, tracking, lock_path, reports, run_context=run_context
        )
        return ChampionUpdate(action, champion, before, None)
    if model is None or evaluation is None:
        missing = "model" if model is None else "evaluation"
        raise GateInputError(f"{spec.name}: the gate needs the {missing} upstream; materialize it first")
    outcome = decide_and_promote(
        spec, model, evaluation, tables, tracking, lock_path, reports, alerts=alerts, run_context=run_context
    )
    return ChampionUpdate(action, serving_champion(outcome), outcome.champion_before, outcome)
