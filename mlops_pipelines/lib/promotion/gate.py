"""The champion/challenger gate: promote a new model only when it is measurably better.

Both models are scored on the same fresh holdout rows, so the improvement is judged with a
paired bootstrap: the noise of "which rows happened to be in the holdout" cancels out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from mlops_pipelines.lib.evaluation.fairness import FAIRNESS_METRICS
from mlops_pipelines.lib.evaluation.holdout import Evaluation, KpiResult, check_kpis
from mlops_pipelines.lib.metrics import Predictions, higher_is_better
from mlops_pipelines.lib.promotion.bootstrap import paired_improvements

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

MIN_SLICE_ROWS = 30  # smaller slices are too noisy to veto a model on a point estimate


@dataclass(frozen=True)
class ModelScores:
    """One model version's evaluation on the shared holdout (its per-row predictions included)."""

    version: str
    evaluation: Evaluation

    @property
    def predictions(self) -> Predictions:
        return self.evaluation.predictions


class SliceRegression(BaseModel):
    model_config = ConfigDict(frozen=True)
    column: str
    value: str
    n: int
    metric: str
    challenger: float
    champion: float
    relative_worsening: float  # 0.12 = 12% worse than the champion


class FairnessRegression(BaseModel):
    model_config = ConfigDict(frozen=True)
    attribute: str
    metric: str
    challenger: float
    champion: float
    increase: float  # absolute; every fairness metric here is a gap, lower is better


class DecisionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    project: str
    challenger_version: str
    champion_version: str | None
    metric: str
    higher_is_better: bool
    n_rows: int
    challenger_score: float | None
    champion_score: float | None
    improvement: float | None  # challenger - champion, sign-adjusted: positive is better
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap_samples: int
    min_improvement: float
    kpis: list[KpiResult]
    slice_regressions: list[SliceRegression]
    fairness_regressions: list[FairnessRegression]
    verdict: Literal["promote", "reject"]
    reasons: list[str]
    decided_at: datetime

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _kpi_reason(kpi: KpiResult) -> str:
    if kpi.value is None:
        return f"KPI {kpi.metric} is undefined on the holdout"
    if kpi.floor is not None:
        return f"KPI {kpi.metric} {kpi.value:.4g} is below its floor {kpi.floor:g}"
    return f"KPI {kpi.metric} {kpi.value:.4g} is above its ceiling {kpi.ceiling:g}"


def slice_regressions(
    challenger: Evaluation, champion: Evaluation, metric: str, tolerance: float
) -> list[SliceRegression]:
    """Slices (with enough rows) where the challenger is worse by more than `tolerance`, relative."""
    sign = 1.0 if higher_is_better(metric) else -1.0
    out = []
    for ours in challenger.slices:
        theirs = champion.slice(ours.column, ours.value)
        if theirs is None or ours.n < MIN_SLICE_ROWS:
            continue
        if metric not in ours.metrics or metric not in theirs.metrics:
            continue
        new, old = ours.metrics[metric], theirs.metrics[metric]
        worsening = sign * (old - new)
        relative = worsening / abs(old) if old != 0 else (np.inf if worsening > 0 else 0.0)
        if relative > tolerance:
            out.append(
                SliceRegression(
                    column=ours.column,
                    value=ours.value,
                    n=ours.n,
                    metric=metric,
                    challenger=new,
                    champion=old,
                    relative_worsening=float(relative),
                )
            )
    return out


def fairness_regressions(
    challenger: Evaluation, champion: Evaluation, tolerance: float
) -> list[FairnessRegression]:
    """Fairness gaps the challenger widens by more than `tolerance` (absolute)."""
    if challenger.fairness is None or champion.fairness is None:
        return []
    out = []
    for ours in challenger.fairness.attributes:
        theirs = champion.fairness.attribute(ours.attribute)
        for metric in FAIRNESS_METRICS:
            new, old = ours.value(metric), theirs.value(metric)
            if new is not None and old is not None and new - old > tolerance:
                out.append(
                    FairnessRegression(
                        attribute=ours.attribute,
                        metric=metric,
                        challenger=new,
                        champion=old,
                        increase=new - old,
                    )
                )
    return out


def _check_same_holdout(challenger: ModelScores, champion: ModelScores) -> None:
    ours, theirs = challenger.predictions, champion.predictions
    if not ours.index.equals(theirs.index) or not np.array_equal(ours.y_true, theirs.y_true):
        raise ValueError(
            f"challenger {challenger.version} and champion {champion.version} were not scored on the "
            "same holdout rows (index or labels differ): a paired comparison is impossible"
        )
    if challenger.evaluation.task is not champion.evaluation.task:
        raise ValueError(
            f"challenger and champion solve different tasks: {challenger.evaluation.task.value} "
            f"vs {champion.evaluation.task.value}"
        )


def _improvement_reason(
    metric: str, new: float, old: float, ci: tuple[float, float], conf: float, floor: float
) -> str:
    low, high = ci
    interval = f"{conf:.0%} CI of improvement [{low:.4g}, {high:.4g}]"
    compared = f"than champion {metric} {old:.4g}"
    if low > floor:
        return f"challenger {metric} {new:.4g} better {compared}: {interval} lies above {floor:g}"
    where = f"includes {floor:g}" if high >= floor else f"lies below {floor:g}"
    return f"challenger {metric} {new:.4g} not better {compared}: {interval} {where}"


def decide_promotion(
    challenger: ModelScores, champion: ModelScores | None, spec: ProjectSpec, *, decided_at: datetime
) -> DecisionRecord:
    """Promote iff KPIs pass and, against a champion, the improvement's CI lower bound clears
    `promotion.min_improvement` with no slice or fairness regression beyond tolerance."""
    rules = spec.promotion
    metric = spec.training.primary_metric
    kpis = check_kpis(challenger.evaluation, spec)
    reasons = [_kpi_reason(k) for k in kpis if not k.passed]
    rejected = bool(reasons)
    new = challenger.evaluation.metrics.get(metric)
    old = improvement = low = high = None
    slices: list[SliceRegression] = []
    fairness: list[FairnessRegression] = []
    if champion is None:
        reasons.append(
            f"no champion: challenger {'misses' if rejected else 'meets'} the KPIs ({len(kpis)} declared)"
        )
    else:
        _check_same_holdout(challenger, champion)
        old = champion.evaluation.metrics.get(metric)
        if new is None or old is None:
            raise ValueError(f"primary metric '{metric}' is undefined on the holdout: cannot compare models")
        diffs = paired_improvements(
            challenger.predictions, champion.predictions, metric, rules.bootstrap_samples, spec.training.seed
        )
        tail = (1.0 - rules.confidence) / 2.0
        low, high = (float(v) for v in np.quantile(diffs, [tail, 1.0 - tail]))
        improvement = (new - old) * (1.0 if higher_is_better(metric) else -1.0)
        reasons.append(
            _improvement_reason(metric, new, old, (low, high), rules.confidence, rules.min_improvement)
        )
        rejected |= low <= rules.min_improvement
        slices = slice_regressions(challenger.evaluation, champion.evaluation, metric, rules.slice_tolerance)
        reasons += [
            f"slice {s.column}={s.value} (n={s.n}): challenger {metric} {s.challenger:.4g} is "
            f"{s.relative_worsening:.1%} worse than champion {s.champion:.4g} "
            f"(tolerance {rules.slice_tolerance:.1%})"
            for s in slices
        ]
        fairness = fairness_regressions(challenger.evaluation, champion.evaluation, rules.fairness_tolerance)
        reasons += [
            f"fairness {f.attribute} {f.metric}: challenger {f.challenger:.3f} vs champion {f.champion:.3f}, "
            f"+{f.increase:.3f} exceeds tolerance {rules.fairness_tolerance:g}"
            for f in fairness
        ]
        rejected |= bool(slices) or bool(fairness)
    return DecisionRecord(
        project=spec.name,
        challenger_version=challenger.version,
        champion_version=None if champion is None else champion.version,
        metric=metric,
        higher_is_better=higher_is_better(metric),
        n_rows=challenger.evaluation.n_rows,
        challenger_score=new,
        champion_score=old,
        improvement=improvement,
        ci_low=low,
        ci_high=high,
        confidence=rules.confidence,
        bootstrap_samples=rules.bootstrap_samples,
        min_improvement=rules.min_improvement,
        kpis=kpis,
        slice_regressions=slices,
        fairness_regressions=fairness,
        verdict="reject" if rejected else "promote",
        reasons=reasons,
        decided_at=decided_at,
    )
