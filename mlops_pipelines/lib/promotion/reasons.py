"""The gate's reasons, as a person reads them in the decision record and the champion's metadata.

Each sentence names the numbers the verdict rests on (scores, rows, the interval and the bound
it was held against), so a reader can check a decision without re-running it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_pipelines.lib.promotion.rules import margin_scale

if TYPE_CHECKING:
    from mlops_pipelines.lib.promotion.decision import SliceRegression
    from mlops_pipelines.lib.promotion.rules import Interval
    from mlops_pipelines.spec import PromotionSpec


def span(partitions: tuple[str, ...] | list[str]) -> str:
    """'first..last (n)' of a run of partitions, or 'none'."""
    if not partitions:
        return "none"
    return f"{partitions[0]}..{partitions[-1]} ({len(partitions)})"


def insufficient_reason(
    rows: int, needed: int, champion: str, excluded: tuple[str, ...], cause: str | None = None
) -> str:
    text = f"insufficient evidence: {rows} comparable rows, {needed} needed; champion v{champion} kept"
    if cause is not None:
        text += f" ({cause})"
    if excluded:
        text += (
            f"; evaluated partitions {span(excluded)} lie inside the champion's training range or were "
            "predicted by a fold fitted on older data than it, and were left out for both models"
        )
    return text


def improvement_reason(
    metric: str,
    new: float,
    old: float,
    rows: int,
    interval: Interval,
    ok: bool,
    gate: PromotionSpec,
    *,
    short: bool = False,
    wide: bool = False,
) -> str:
    """The interval of the improvement against the bar it had to clear, and what that means
    (`short`: fewer rows than `min_rows`, where a clearly better challenger passes, or, without
    a `min_improvement`, one whose point estimate is at least as good; `wide`: the interval is
    too wide for the margin, and the point estimate decided)."""
    measured = (
        f"challenger {metric} {new:.4g} vs champion {old:.4g} on {rows} rows: "
        f"{gate.confidence:.0%} CI of improvement [{interval.low:.4g}, {interval.high:.4g}]"
    )
    if short:
        few = f"fewer than {gate.min_rows} rows: too few to judge non-inferiority"
        floor = max(0.0, gate.min_improvement)
        if interval.low > floor:
            return f"{measured} lies above {floor:g}: clearly better than the champion ({few})"
        return (
            f"{measured}: at least as good on the point estimate and not confidently worse, "
            f"so the fresher model serves ({few})"
        )
    if gate.min_improvement > 0:
        bar = f"the required improvement {gate.min_improvement:g}"
        verdict = f"lies above {bar}" if ok else f"does not clear {bar}"
        return f"{measured} {verdict} (superiority gate)"
    scale = margin_scale(metric, old)
    bound = -gate.non_inferiority_margin * scale
    of = (
        "the champion's score"
        if scale == abs(old)
        else f"{scale:g}, the span from learning nothing to a perfect score, above the champion's score"
    )
    bar = f"the non-inferiority bound {bound:.4g} ({gate.non_inferiority_margin:.1%} of {of})"
    if ok and wide:
        return (
            f"{measured} straddles 0 and is wider than the margin on each side of it ({bar}): no "
            f"model could show non-inferiority on {rows} rows, and the challenger is at least as good "
            "on the point estimate, so the fresher model serves"
        )
    if ok:
        return f"{measured} lies above {bar}: not worse than the champion"
    if interval.low > bound:
        return f"{measured} lies above {bar} but wholly below 0: confidently worse than the champion"
    return f"{measured} reaches below {bar}: possibly worse than the champion by more than the margin"


def first_model_reason(declared: int, flags: list[str]) -> str:
    text = "no champion: the challenger is promoted as the first model (the loop needs a model to serve and monitor)"
    if flags:
        return f"{text}; it breaches {len(flags)} of {declared} KPI(s): flagged for attention"
    return f"{text}; it meets the KPIs ({declared} declared)"


def slice_reason(s: SliceRegression, tolerance: float) -> str:
    return (
        f"slice {s.column}={s.value} (n={s.n}): challenger {s.metric} {s.challenger:.4g} is "
        f"{s.relative_worsening:.1%} worse than champion {s.champion:.4g}, confidently "
        f"(improvement interval [{s.ci_low:.4g}, {s.ci_high:.4g}], tolerance {tolerance:.1%})"
    )
