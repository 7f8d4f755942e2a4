"""The champion stage: the gate decides, the registry aliases move only on `promote`.

`decide_and_promote` is what the `champion` asset does after a retrain, without Dagster. The
challenger is the model produced upstream in this lineage; the serving champion is re-scored
on the same fresh holdout (`judge_challenger`), then the verdict is applied with a
compare-and-set under the promotion lock (`apply_decision`): if the champion moved while the
gate was scoring, the move fails with PromotionConflict instead of overwriting a newer
decision. `champion_stage` is the asset's one call: the gate, or a rollback under the same
lock, each ending in the `ChampionRef` of whichever version serves afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from mlops_pipelines.lib.promotion.champion import ChampionRef, ChampionSource
from mlops_pipelines.lib.promotion.refs import champion_ref_of, rollback_champion

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_pipelines.lib.evaluation.stage import EvaluationReport
    from mlops_pipelines.lib.ports import ReportFiles, TableStore
    from mlops_pipelines.lib.promotion.gate import DecisionRecord, ModelScores
    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import ModelArtifact
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

ChampionAction = Literal["gate", "rollback"]
DECISIONS = "decisions"  # the report kind decision records are filed under


class GateInputError(ValueError):
    """The gate cannot judge what it was given; the message names the version and the problem."""


@dataclass(frozen=True)
class Judgement:
    """The gate's verdict on a challenger, and the champion it was judged against."""

    decision: DecisionRecord
    champion_before: str | None  # the version the aliases must still show when the verdict is applied


@dataclass(frozen=True)
class PromotionOutcome:
    decision: DecisionRecord
    champion_before: str | None
    after: ModelVersionRef | None  # the serving champion once the verdict was applied
    retired_versions: tuple[str, ...]
    decision_record_path: str

    @property
    def champion_after(self) -> str | None:
        return None if self.after is None else self.after.version


@dataclass(frozen=True)
class ChampionUpdate:
    """What one materialization of the champion asset did, and who serves afterwards."""

    action: ChampionAction
    champion: ChampionRef
    champion_before: str | None
    outcome: PromotionOutcome | None  # the gate's outcome; None for a rollback


def _champion_scores(
    spec: ProjectSpec, version: str, model: ModelArtifact, tables: TableStore, tracking: TrackingConfig
) -> ModelScores | str:
    """The champion scored on the challenger's holdout, or why it could not be."""
    from mlops_pipelines.lib.evaluation.stage import holdout_scores
    from mlops_pipelines.lib.promotion.gate import ModelScores

    try:
        result = holdout_scores(spec, version, model, tables, tracking, importance_rows=0)
    except Exception as err:  # noqa: BLE001 - a champion that no longer loads cannot defend its title; the decision says so
        return f"champion v{version} could not be re-scored ({type(err).__name__}: {err})"
    return ModelScores(version, result)


def judge_challenger(
    spec: ProjectSpec,
    model: ModelArtifact,
    evaluation: EvaluationReport,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    decided_at: datetime | None = None,
) -> Judgement:
    """The gate's verdict on `model` against the current champion, both on the same holdout."""
    from mlops_pipelines.lib.promotion.gate import ModelScores, decide_promotion
    from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias

    if evaluation.version != model.version or evaluation.artifact_sha256 != model.artifact_sha256:
        raise GateInputError(
            f"{spec.name}: the evaluation is of version {evaluation.version}, the challenger is "
            f"version {model.version}: evaluate the challenger first"
        )
    if evaluation.evaluation is None:
        raise GateInputError(
            f"{spec.name}: version {model.version} is not promotable: {evaluation.load_error}"
        )
    current = get_alias(tracking, spec.name, CHAMPION)
    champion: ModelScores | None = None
    notes: list[str] = []
    if current is not None and current.version != model.version:
        scored = _champion_scores(spec, current.version, model, tables, tracking)
        if isinstance(scored, str):
            log.warning("%s: %s", spec.name, scored)
            notes.append(scored)
        else:
            champion = scored
    decision = decide_promotion(
        ModelScores(model.version, evaluation.evaluation),
        champion,
        spec,
        decided_at=decided_at or datetime.now(UTC),
    )
    if notes:
        decision = decision.model_copy(update={"reasons": [*decision.reasons, *notes]})
    return Judgement(decision, None if current is None else current.version)


def apply_decision(
    spec: ProjectSpec,
    judgement: Judgement,
    tracking: TrackingConfig,
    lock_path: Path,
    reports: ReportFiles,
) -> PromotionOutcome:
    """Move `champion` on promote (compare-and-set against `judgement.champion_before`, under the
    lock), tag a rejection, retire old versions, file the decision record."""
    from mlops_pipelines.lib.registry.aliases import (
        CHAMPION,
        get_alias,
        promote,
        record_rejection,
        retire_old_versions,
    )

    decision = judgement.decision
    version = decision.challenger_version
    if decision.verdict == "promote":
        promote(
            tracking,
            spec.name,
            version,
            decision.to_json(),
            lock_path,
            expected_champion=judgement.champion_before,
        )
    else:
        record_rejection(tracking, spec.name, version, decision.to_json())
    retired = retire_old_versions(tracking, spec.name, spec.promotion.keep_versions, lock_path)
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
    decided_at: datetime | None = None,
) -> PromotionOutcome:
    """The gate's verdict on `model`, applied to the registry."""
    judgement = judge_challenger(spec, model, evaluation, tables, tracking, decided_at=decided_at)
    return apply_decision(spec, judgement, tracking, lock_path, reports)


def serving_champion(outcome: PromotionOutcome) -> ChampionRef:
    """The serving champion after the gate: "promotion" when the challenger won, "kept" when it
    lost to an existing champion, "none" when there is still no champion."""
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
) -> ChampionUpdate:
    """One move of the champion: the gate on the challenger upstream, or a rollback."""
    if action == "rollback":
        before, champion = rollback_champion(spec.name, tracking, lock_path)
        return ChampionUpdate(action, champion, before, None)
    if model is None or evaluation is None:
        missing = "model" if model is None else "evaluation"
        raise GateInputError(f"{spec.name}: the gate needs the {missing} upstream; materialize it first")
    outcome = decide_and_promote(spec, model, evaluation, tables, tracking, lock_path, reports)
    return ChampionUpdate(action, serving_champion(outcome), outcome.champion_before, outcome)
