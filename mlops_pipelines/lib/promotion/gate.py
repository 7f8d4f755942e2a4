"""The champion/challenger gate: promote a fresh model unless the evidence says it is worse.

Both models are judged on the same rows: the challenger's pooled rolling-origin predictions
(`evaluation.backtest`) and the champion re-scored on those rows, minus the partitions inside
the champion's own training range (it would be scored in sample there). The rules live in
`rules`: non-inferiority within a margin on a paired bootstrap interval (a superiority test
has no power on a few hundred rows and kept stale champions serving), never for a challenger
confidently worse than the champion (the whole interval below 0), KPIs judged against the
champion (blocking on a KPI both breach only when the challenger is confidently worse there),
slices that block only when confidently worse; fairness gaps as before. Too few comparable
rows is its own verdict, `insufficient_evidence` (the champion stays, and the record says
why) unless the challenger is at least as good on them by the point estimate and not
confidently worse (small partitions would otherwise never gather enough rows after a
promotion, and a stale champion would keep serving). Without a champion
the challenger is promoted (the loop needs a model to serve and monitor); a KPI it breaches
is flagged and the record asks for attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.evaluation.fairness import FAIRNESS_METRICS
from mlops_pipelines.lib.evaluation.holdout import Evaluation, KpiResult, check_kpis
from mlops_pipelines.lib.metrics import Predictions, higher_is_better
from mlops_pipelines.lib.promotion import rules
from mlops_pipelines.lib.promotion.decision import (
    DecisionRecord,
    FairnessRegression,
    SliceRegression,
    Verdict,
)
from mlops_pipelines.lib.promotion.reasons import (
    first_model_reason,
    improvement_reason,
    insufficient_reason,
    slice_reason,
)

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

__all__ = [
    "DecisionRecord",
    "Evidence",
    "FairnessRegression",
    "ModelScores",
    "SliceRegression",
    "Verdict",
    "decide_promotion",
    "evidence_of",
    "fairness_regressions",
    "same_rows",
]


@dataclass(frozen=True)
class ModelScores:
    """One model version's evaluation on the compared rows (its per-row predictions included)."""

    version: str
    evaluation: Evaluation

    @property
    def predictions(self) -> Predictions:
        return self.evaluation.predictions


@dataclass(frozen=True)
class Evidence:
    """What the gate judges: the challenger's pooled evaluation and, against a champion, both
    models on the rows they can be compared on (None when no row is comparable)."""

    challenger_version: str
    evaluated: Evaluation  # the challenger on every evaluated row (pooled, out of sample)
    evaluated_partitions: tuple[str, ...] = ()
    champion_version: str | None = None  # None: there is no champion
    challenger: Evaluation | None = None  # on the compared rows
    champion: Evaluation | None = None  # on the same rows
    excluded_partitions: tuple[str, ...] = ()  # inside the champion's training range, or a staler fold

    @property
    def compared_rows(self) -> int | None:
        if self.champion_version is None:
            return None
        return 0 if self.challenger is None else self.challenger.n_rows


def same_rows(challenger: ModelScores, champion: ModelScores) -> None:
    """Raise unless both were scored on the same rows (index and labels) of the same task."""
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


def evidence_of(
    challenger: ModelScores,
    champion: ModelScores | None,
    *,
    evaluated: Evaluation | None = None,
    evaluated_partitions: tuple[str, ...] = (),
) -> Evidence:
    """Evidence from two models scored on the same rows (`evaluated`: the challenger's pooled
    evaluation when it covers more rows than the compared ones)."""
    if champion is not None:
        same_rows(challenger, champion)
    return Evidence(
        challenger_version=challenger.version,
        evaluated=evaluated or challenger.evaluation,
        evaluated_partitions=evaluated_partitions,
        champion_version=None if champion is None else champion.version,
        challenger=None if champion is None else challenger.evaluation,
        champion=None if champion is None else champion.evaluation,
    )


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


def _slices(found: list[rules.SliceJudgement], metric: str) -> list[SliceRegression]:
    sign = 1.0 if higher_is_better(metric) else -1.0
    out = []
    for s in found:
        worse = sign * (s.champion - s.challenger)
        relative = worse / abs(s.champion) if s.champion != 0 else (np.inf if worse > 0 else 0.0)
        out.append(
            SliceRegression(
                column=s.column,
                value=s.value,
                n=s.n,
                metric=metric,
                challenger=s.challenger,
                champion=s.champion,
                relative_worsening=float(relative),
                ci_low=s.interval.low,
                ci_high=s.interval.high,
            )
        )
    return out


@dataclass(frozen=True)
class _Comparison:
    """The parts of a decision that only exist against a champion."""

    verdict: Verdict
    reasons: list[str]
    kpis: list[KpiResult]
    flags: list[str]
    new: float | None = None
    old: float | None = None
    interval: rules.Interval | None = None
    slices: tuple[SliceRegression, ...] = ()
    fairness: tuple[FairnessRegression, ...] = ()


def _compare(evidence: Evidence, spec: ProjectSpec) -> _Comparison:
    gate, metric = spec.promotion, spec.training.primary_metric
    rows, version = evidence.compared_rows or 0, str(evidence.champion_version)
    ours, theirs = evidence.challenger, evidence.champion
    if ours is None or theirs is None or rows < min(gate.min_rows, rules.MIN_COMPARED_ROWS):
        reason = insufficient_reason(rows, gate.min_rows, version, evidence.excluded_partitions)
        return _Comparison("insufficient_evidence", [reason], [], [])
    new, old = ours.metrics.get(metric), theirs.metrics.get(metric)
    kpis = check_kpis(ours, spec)
    samples, confidence, seed = gate.bootstrap_samples, gate.confidence, spec.training.seed

    def kpi_interval(kpi_metric: str) -> rules.Interval | None:
        try:
            return rules.improvement_interval(
                ours.predictions, theirs.predictions, kpi_metric, samples, confidence, seed
            )
        except ValueError:  # undefined on most resamples: the point estimates decide
            return None

    judged = rules.judge_kpis(kpis, check_kpis(theirs, spec), kpi_interval)
    flags = [j.text for j in judged if j.challenger_breaches]
    try:
        if new is None or old is None:
            raise ValueError(f"{metric} is undefined on the compared rows")
        interval = rules.improvement_interval(
            ours.predictions, theirs.predictions, metric, samples, confidence, seed
        )
    except ValueError as err:  # the metric has no value on these rows: no evidence either way
        reason = insufficient_reason(rows, gate.min_rows, version, evidence.excluded_partitions, str(err))
        return _Comparison("insufficient_evidence", [reason], kpis, flags, new, old)
    short = rows < gate.min_rows  # too few rows to judge non-inferiority: the point estimate decides
    gain = (1.0 if higher_is_better(metric) else -1.0) * (new - old)
    if gate.min_improvement > 0:
        enough = rules.clearly_better(interval, gate.min_improvement)
    else:
        enough = rules.clearly_better(interval, 0.0) or rules.better_on_few_rows(gain, interval)
    if short and not enough:
        cause = (
            f"{metric} {new:.4g} vs {old:.4g}, improvement interval [{interval.low:.4g}, {interval.high:.4g}]"
        )
        cause += " does not show the challenger at least as good, which fewer rows would need"
        reason = insufficient_reason(rows, gate.min_rows, version, evidence.excluded_partitions, cause)
        return _Comparison("insufficient_evidence", [reason], kpis, flags, new, old, interval)
    scale, margin = rules.margin_scale(metric, old), gate.non_inferiority_margin
    ok = short or rules.non_inferior(interval, scale, margin, gate.min_improvement)
    # An interval too wide for the margin cannot show non-inferiority: the point estimate decides.
    wide = not ok and gate.min_improvement == 0 and rules.unresolved(interval, scale, margin)
    ok = ok or (wide and rules.better_on_few_rows(gain, interval))
    found = rules.slice_regressions(
        ours, theirs, metric, gate.slice_tolerance, gate.bootstrap_samples, gate.confidence, seed
    )
    slices = _slices(found, metric)
    fairness = fairness_regressions(ours, theirs, gate.fairness_tolerance)
    reasons = [improvement_reason(metric, new, old, rows, interval, ok, gate, short=short, wide=wide)]
    reasons += [j.text for j in judged if j.blocks or j.challenger_breaches]
    reasons += [slice_reason(s, gate.slice_tolerance) for s in slices]
    reasons += [
        f"fairness {f.attribute} {f.metric}: challenger {f.challenger:.3f} vs champion {f.champion:.3f}, "
        f"+{f.increase:.3f} exceeds tolerance {gate.fairness_tolerance:g}"
        for f in fairness
    ]
    passes = ok and not any(j.blocks for j in judged) and not slices and not fairness
    verdict: Verdict = "promote" if passes else "reject"
    return _Comparison(verdict, reasons, kpis, flags, new, old, interval, tuple(slices), tuple(fairness))


def _first_model(evidence: Evidence, spec: ProjectSpec) -> _Comparison:
    kpis = check_kpis(evidence.evaluated, spec)
    flags = [j.text for j in rules.judge_kpis(kpis, None) if j.challenger_breaches]
    metric = spec.training.primary_metric
    reasons = [first_model_reason(len(kpis), flags), *flags]
    return _Comparison("promote", reasons, kpis, flags, evidence.evaluated.metrics.get(metric))


def decide_promotion(evidence: Evidence, spec: ProjectSpec, *, decided_at: datetime) -> DecisionRecord:
    """The verdict on the challenger (see the module docstring), with every number behind it."""
    gate, metric = spec.promotion, spec.training.primary_metric
    found = _first_model(evidence, spec) if evidence.champion_version is None else _compare(evidence, spec)
    sign = 1.0 if higher_is_better(metric) else -1.0
    improvement = None if found.new is None or found.old is None else sign * (found.new - found.old)
    return DecisionRecord(
        project=spec.name,
        challenger_version=evidence.challenger_version,
        champion_version=evidence.champion_version,
        metric=metric,
        higher_is_better=higher_is_better(metric),
        n_rows=evidence.evaluated.n_rows,
        challenger_score=found.new,
        champion_score=found.old,
        improvement=improvement,
        ci_low=None if found.interval is None else found.interval.low,
        ci_high=None if found.interval is None else found.interval.high,
        confidence=gate.confidence,
        bootstrap_samples=gate.bootstrap_samples,
        min_improvement=gate.min_improvement,
        kpis=found.kpis,
        slice_regressions=list(found.slices),
        fairness_regressions=list(found.fairness),
        verdict=found.verdict,
        reasons=found.reasons,
        decided_at=decided_at,
        margin=gate.non_inferiority_margin,
        compared_rows=evidence.compared_rows,
        evaluated_score=evidence.evaluated.metrics.get(metric),
        evaluated_partitions=list(evidence.evaluated_partitions),
        excluded_partitions=list(evidence.excluded_partitions),
        kpi_flags=found.flags,
        needs_attention=found.verdict == "promote" and bool(found.flags),
        evaluated_version=evidence.challenger_version,
    )
