"""What the champion stage hands between its steps and to the asset: the gate's judgement, the
outcome of applying it, and the update of one champion materialization (frozen, at the joins)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.backtest import EvaluationRows
    from mlops_pipelines.lib.evaluation.stage import EvaluationReport
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.promotion.decision import DecisionRecord
    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.training.artifact import ModelArtifact

# gate: judge the challenger; rollback: back to a former champion; approve / reject: a person's
# verdict on a promotion waiting for approval.
ChampionAction = Literal["gate", "rollback", "approve", "reject"]


@dataclass(frozen=True)
class Judgement:
    """The gate's verdict on a challenger, and the champion it was judged against."""

    decision: DecisionRecord
    champion_before: str | None  # the version the aliases must still show when the verdict is applied
    model: ModelArtifact
    report: EvaluationReport
    rows: EvaluationRows | None  # the evaluation rows (None when the verdict was applied already)
    already_live: bool = False  # a retried step: the champion is already this model's refit


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
