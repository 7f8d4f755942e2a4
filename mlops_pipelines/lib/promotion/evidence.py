"""What the gate compares: the challenger's pooled predictions and the champion re-scored on the
same rows, minus the partitions the champion was trained on and those whose fold model learned
from older data than the champion (there the challenger would be judged staler than it serves).

Fail closed: when the serving champion cannot be loaded or re-scored, the gate has nothing to
compare with, and promoting without a comparison would let any challenger replace a champion
that merely failed to load for a moment. `ChampionRescoreError` names the version and the
cause; the champion asset alerts and fails, so the retrain run fails and the sensor retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.backtest import EvaluationRows, Fold
    from mlops_pipelines.lib.evaluation.stage import EvaluationReport
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.promotion.decision import DecisionRecord
    from mlops_pipelines.lib.promotion.gate import Evidence
    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec


class GateInputError(ValueError):
    """The gate cannot judge what it was given; the message names the version and the problem."""


class EvaluationMismatchError(GateInputError):
    """The evaluation handed to the gate is of another model than the one it would promote."""


class ChampionRescoreError(RuntimeError):
    """The serving champion could not be loaded or re-scored: no promotion without a comparison."""


@dataclass(frozen=True)
class Gathered:
    evidence: Evidence
    rows: EvaluationRows  # every evaluated row, in the pooled predictions' order


def _check_rows(spec: ProjectSpec, report: EvaluationReport, rows: EvaluationRows) -> None:
    """The rows read again are the rows the evaluation predicted (count and labels)."""
    import numpy as np

    assert report.evaluation is not None
    pooled = report.evaluation.predictions
    target = rows.labelled.target
    labels = target.astype("str").to_numpy(dtype=object) if spec.task.is_classification else target.to_numpy()
    if len(labels) != len(pooled.y_true) or not np.array_equal(labels, pooled.y_true):
        raise GateInputError(
            f"{spec.name}: the evaluation rows of version {report.version} read again at features version "
            f"{report.features_version} ({len(labels)} rows) are not the {len(pooled.y_true)} rows it predicted"
        )


def rescore_champion(
    spec: ProjectSpec, champion: ModelVersionRef, rows: EvaluationRows, tracking: TrackingConfig
) -> Predictions:
    """The champion's predictions on the evaluation rows, or ChampionRescoreError naming why not."""
    from mlops_pipelines.lib.evaluation.stage import score_version

    try:
        return score_version(spec, champion.version, rows, tracking)
    except Exception as err:  # any failure to load or predict: fail closed, never promote blind
        raise ChampionRescoreError(
            f"{spec.name}: champion v{champion.version} could not be re-scored on the evaluation rows "
            f"({type(err).__name__}: {err}); no promotion without a comparison"
        ) from err


def excluded_partitions(
    partitions: tuple[str, ...], train_range: tuple[str, str] | None, folds: Sequence[Fold] = ()
) -> tuple[str, ...]:
    """The evaluated partitions the two models cannot be fairly compared on: those inside the
    champion's training range (it saw their labels), and those of a fold whose model learned
    from less recent data than the champion did (a fold fitted before a sudden change looks
    worse than a champion fitted just after it, though the challenger that serves will not)."""
    if train_range is None:
        return ()
    first, last = train_range
    staler = {p for fold in folds if fold.train and fold.train[-1] < last for p in fold.partitions}
    return tuple(p for p in partitions if first <= p <= last or p in staler)


def gather_evidence(
    spec: ProjectSpec,
    report: EvaluationReport,
    champion: ModelVersionRef | None,
    tables: TableStore,
    tracking: TrackingConfig,
) -> Gathered:
    """The evaluation rows again, and the evidence the gate decides on."""
    from mlops_pipelines.lib.evaluation.backtest import evaluation_of, read_evaluation_rows
    from mlops_pipelines.lib.promotion.gate import Evidence, ModelScores, evidence_of
    from mlops_pipelines.lib.promotion.refs import champion_ref_of

    if report.evaluation is None or report.features_version is None or not report.partitions:
        raise GateInputError(
            f"{spec.name}: version {report.version} has no rolling-origin evaluation to judge "
            f"({report.load_error or 'evaluated by an older pipeline'}): evaluate it again"
        )
    rows = read_evaluation_rows(spec, tables, report.partitions, report.features_version)
    _check_rows(spec, report, rows)
    evaluated = report.evaluation
    if champion is None:
        return Gathered(Evidence(report.version, evaluated, report.partitions), rows)
    predicted = rescore_champion(spec, champion, rows, tracking)
    trained_on = champion_ref_of(spec.name, champion, "kept", None).train_range
    excluded = excluded_partitions(report.partitions, trained_on, report.folds)
    keep = ~rows.mask(excluded)
    if not keep.any():
        evidence = Evidence(
            report.version, evaluated, report.partitions, champion.version, excluded_partitions=excluded
        )
        return Gathered(evidence, rows)
    ours = ModelScores(report.version, evaluation_of(evaluated.predictions.subset(keep), rows, spec))
    theirs = ModelScores(champion.version, evaluation_of(predicted.subset(keep), rows, spec))
    evidence = evidence_of(ours, theirs, evaluated=evaluated, evaluated_partitions=report.partitions)
    return Gathered(replace(evidence, excluded_partitions=excluded), rows)


def applied_decision(spec: ProjectSpec, champion: ModelVersionRef) -> DecisionRecord:
    """The decision that made `champion` (a refit of the challenger) champion, read back."""
    from pydantic import ValidationError

    from mlops_pipelines.lib.promotion.decision import DecisionRecord

    try:
        return DecisionRecord.model_validate_json(champion.tags.get(names.ML_PROMOTION_DECISION, ""))
    except ValidationError as err:
        raise GateInputError(
            f"{spec.name}: champion v{champion.version} is already the refit of this challenger, but its "
            f"promotion decision cannot be read back ({err.error_count()} problem(s))"
        ) from err
