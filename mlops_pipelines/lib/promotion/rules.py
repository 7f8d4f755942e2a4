"""The gate's rules, one function each: non-inferiority, KPIs judged against the champion, slices.

- Non-inferiority with a margin: a fresh model does not have to be significantly better, it
  must not be worse. The lower bound of the paired bootstrap interval of the improvement must
  clear minus `margin` times the champion's score, and the whole interval must not lie below 0
  (confidently worse, however little). On a few hundred evaluation rows a
  superiority test has almost no power, so it kept stale champions serving; this one promotes a
  fresh model unless the evidence says it is worse, or may be worse by more than the margin.
- An interval too wide for the margin (`unresolved`: it straddles 0 and its half-width exceeds
  the margin) cannot show non-inferiority whatever the challenger, so there too the point
  estimate may promote (`better_on_few_rows`); a worse point estimate is still rejected.
- Fewer than `min_rows` compared rows (small partitions, or soon after the champion's own
  data): the interval is too wide to show non-inferiority, so the point estimate decides
  (`better_on_few_rows`): a challenger at least as good there, and not confidently worse, is
  promoted; a retrain runs because a signal said the champion is going bad or the data moves,
  and on such evidence the fresher model is the better bet. Anything else is "insufficient
  evidence" (champion kept). Superiority (`clearly_better`) still decides when the spec asks
  for a `min_improvement`. Fewer than `MIN_COMPARED_ROWS`: no interval is trusted at all.
  (Superiority alone kept a stale champion on 7-row weekly partitions: bike_weekly 74.6 % of
  the oracle, 80.7 % with this rule; no other backtest changed.)
- KPI floors and ceilings judged against the champion: a challenger's breach blocks only if
  the champion does not breach that KPI too, or, when both breach, if the challenger is
  confidently worse on it (the whole interval of its KPI improvement below 0), as slices are
  judged: a point estimate of r2 on two regimes' rows is noise. Every breach is still reported
  (flagged), whoever is promoted.
- Slices: a slice blocks only when the challenger is confidently worse there by more than the
  tolerance (the whole bootstrap interval beyond it), not on a noisy point estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.metrics import higher_is_better
from mlops_pipelines.lib.promotion.bootstrap import paired_improvements

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import Evaluation, KpiResult
    from mlops_pipelines.lib.metrics import Predictions

MIN_SLICE_ROWS = 30  # smaller slices are too noisy to veto a model
# Fewer compared rows than this: no bootstrap interval is trusted, whatever it says.
MIN_COMPARED_ROWS = 30


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class KpiJudgement:
    metric: str
    challenger: float | None
    champion: float | None
    challenger_breaches: bool
    champion_breaches: bool
    blocks: bool  # the breach stops the promotion
    text: str


def improvement_interval(
    challenger: Predictions, champion: Predictions, metric: str, samples: int, confidence: float, seed: int
) -> Interval:
    """Two-sided `confidence` interval of the challenger's improvement (positive = better)."""
    diffs = paired_improvements(challenger, champion, metric, samples, seed)
    tail = (1.0 - confidence) / 2.0
    low, high = (float(v) for v in np.quantile(diffs, [tail, 1.0 - tail]))
    return Interval(low, high)


# The span from a model that learned nothing to a perfect one: ROC-AUC 0.5 -> 1, accuracy at
# most 0.5 -> 1 (with more classes chance is lower and the span wider), R2 0 -> 1. A margin taken
# of the champion's own score shrinks to nothing when that score is near or below chance (labels
# that flipped meaning: ROC-AUC 0.05, R2 0.02): 5 % of 0.05 turned down five of the seven
# fresher models in the two months after a stream's concept flipped.
_SPAN = {"roc_auc": 0.5, "accuracy": 0.5, "r2": 1.0}


def margin_scale(metric: str, champion_score: float) -> float:
    """What the non-inferiority margin is a share of: the champion's score, never below the
    span from learning nothing to a perfect score (`_SPAN`; error metrics have none)."""
    return max(abs(champion_score), _SPAN.get(metric, 0.0))


def non_inferior(interval: Interval, scale: float, margin: float, min_improvement: float) -> bool:
    """True when the improvement's lower bound clears -margin x `scale` (`margin_scale`) and the
    challenger is not confidently worse (`confidently_worse`), or, if a positive
    `min_improvement` is asked for, when the lower bound clears that instead (superiority)."""
    if min_improvement > 0:
        return interval.low > min_improvement
    return interval.low > -margin * scale and not confidently_worse(interval)


def confidently_worse(interval: Interval) -> bool:
    """The whole improvement interval below 0: the evidence says the challenger is worse.
    The margin lets a fresh model through when the evidence cannot tell it from the champion,
    not when it can and it is worse (the weather-shaped backtest promoted ROC-AUC 0.881 over
    0.904, interval [-0.041, -0.008], inside a 5 % margin of 0.045)."""
    return interval.high < 0


def unresolved(interval: Interval, scale: float, margin: float) -> bool:
    """The interval straddles 0 and reaches past the non-inferiority bound on either side: even
    a challenger identical to the champion could not show non-inferiority on these rows (98
    rows of weekly partitions give a ROC-AUC interval of about +-0.1 against a 5 % margin of
    0.04). A zero margin asks for a strict test, and gets one: nothing is unresolved there."""
    half = (interval.high - interval.low) / 2.0
    return margin > 0 and interval.low < 0 < interval.high and half > margin * scale


def clearly_better(interval: Interval, min_improvement: float) -> bool:
    """Superiority: the whole interval lies above the required improvement (at least 0). Below
    `min_rows` compared rows this alone promotes: a challenger far better than a stale champion
    is plain on a few dozen rows, while "not worse within the margin" needs the full count."""
    return interval.low > max(0.0, min_improvement)


def better_on_few_rows(improvement: float, interval: Interval) -> bool:
    """Fewer than `min_rows` rows: the challenger's point estimate is at least as good
    (`improvement` >= 0, positive = better) and the interval is not wholly at or below 0 (an
    identical model is no reason to swap)."""
    return improvement >= 0 and interval.high > 0


def _breaches(kpi: KpiResult) -> bool:
    return kpi.value is not None and not kpi.passed


def _worse(metric: str, ours: float, theirs: float) -> bool:
    return ours < theirs if higher_is_better(metric) else ours > theirs


def judge_kpis(
    challenger: list[KpiResult],
    champion: list[KpiResult] | None,
    interval_of: Callable[[str], Interval | None] | None = None,
) -> list[KpiJudgement]:
    """Each KPI: does the challenger breach it, does the champion, and does that block?

    `interval_of(metric)` gives the challenger's improvement interval on that KPI's metric (None:
    undefined there). Without it, or without an interval, a challenger worse than a champion
    that also breaches blocks on the point estimate."""
    theirs = {k.metric: k for k in champion or []}
    out = []
    for kpi in challenger:
        other = theirs.get(kpi.metric)
        ours_bad = _breaches(kpi) or kpi.value is None
        their_bad = other is not None and _breaches(other)
        if not ours_bad:
            out.append(
                KpiJudgement(
                    kpi.metric,
                    kpi.value,
                    other.value if other else None,
                    False,
                    their_bad,
                    False,
                    f"KPI {kpi.metric} {kpi.value:.4g} met",
                )
            )
            continue
        if kpi.value is None:
            blocks, text = True, f"KPI {kpi.metric} is undefined on the evaluation rows"
        elif other is None:
            blocks, text = False, f"KPI {kpi.metric} {kpi.value:.4g} breached (no champion to compare with)"
        elif not their_bad:
            blocks, text = True, f"KPI {kpi.metric} {kpi.value:.4g} breached while the champion meets it"
        elif other.value is not None and _worse(kpi.metric, kpi.value, other.value):
            interval = None if interval_of is None else interval_of(kpi.metric)
            blocks = interval is None or confidently_worse(interval)
            text = f"KPI {kpi.metric} {kpi.value:.4g} breached, worse than the champion's {other.value:.4g}"
            if interval is not None:
                bounds = f"improvement interval [{interval.low:.4g}, {interval.high:.4g}]"
                text += (
                    f", confidently ({bounds})" if blocks else f", but not confidently ({bounds}): flagged"
                )
        else:
            blocks = False
            text = (
                f"KPI {kpi.metric} {kpi.value:.4g} breached, but the champion breaches it worse "
                f"({other.value if other.value is None else round(other.value, 4)}): flagged"
            )
        out.append(
            KpiJudgement(kpi.metric, kpi.value, other.value if other else None, True, their_bad, blocks, text)
        )
    return out


@dataclass(frozen=True)
class SliceJudgement:
    column: str
    value: str
    n: int
    challenger: float
    champion: float
    interval: Interval  # improvement on the slice's rows (positive = better)


def slice_regressions(
    challenger: Evaluation,
    champion: Evaluation,
    metric: str,
    tolerance: float,
    samples: int,
    confidence: float,
    seed: int,
) -> list[SliceJudgement]:
    """Slices where the challenger is confidently worse than the champion by more than
    `tolerance` (relative): the whole improvement interval lies below -tolerance x |champion|."""
    out = []
    for ours in challenger.slices:
        theirs = champion.slice(ours.column, ours.value)
        if theirs is None or ours.n < MIN_SLICE_ROWS:
            continue
        if metric not in ours.metrics or metric not in theirs.metrics:
            continue
        mask = ours.positions
        if mask is None or len(mask) < MIN_SLICE_ROWS:
            continue
        try:
            interval = improvement_interval(
                challenger.predictions.subset(mask),
                champion.predictions.subset(mask),
                metric,
                samples,
                confidence,
                seed,
            )
        except ValueError:  # the metric is undefined on most resamples of this slice: no verdict
            continue
        if interval.high < -tolerance * abs(theirs.metrics[metric]):
            out.append(
                SliceJudgement(
                    ours.column, ours.value, ours.n, ours.metrics[metric], theirs.metrics[metric], interval
                )
            )
    return out
