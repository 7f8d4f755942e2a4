"""What a backtest shows a person: a table, one JSON object, and a PNG of the metric over time.

The JSON spells "no value" as null, like every other output of the project. The plot draws
each strategy's per-partition metric smoothed over a few partitions (a raw daily MAE is too
jagged to compare by eye), with the policy's retrains (promoted: up triangles, rejected or
insufficient evidence: crosses) on the time axis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.backtest.scoring import share_of

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.engine import BacktestReport, StrategyResult

SMOOTH_PARTITIONS = 7


def secondary_shares(report: BacktestReport, result: StrategyResult) -> dict[str, dict[str, float | None]]:
    """Each secondary metric's pooled value and share of the oracle's, for one strategy."""
    ceiling = dict(report.result("oracle").score.secondary)
    return {
        metric: {
            "value": value,
            "share_of_oracle": share_of(value, ceiling[metric], metric) if metric in ceiling else None,
        }
        for metric, value in result.score.secondary
    }


def report_json(report: BacktestReport) -> dict[str, Any]:
    strategies = []
    for r in report.results:
        events = [
            {"partition": e.partition, "kind": e.kind, "as_of": e.as_of, "reason": e.reason}
            for e in r.schedule.events
        ]
        strategies.append(
            {
                "strategy": r.score.strategy,
                "metric": r.score.metric,
                "value": r.score.value,
                "share_of_oracle": r.share_of_oracle,
                "retrains": r.score.retrains,
                "trainings": r.score.trainings,
                "secondary": secondary_shares(report, r),
                "secondary_undefined": list(r.score.undefined),
                "retrained_as_of": [report.keys[i] for i in r.schedule.retrains],
                "drift_alarms": sum(e.kind == "alarm" for e in r.schedule.events),
                "per_partition": list(r.score.per_partition),
                "events": events,
            }
        )
    return {
        "project": report.project,
        "metric": report.metric,
        "bootstrap_as_of": report.bootstrap_as_of,
        "scored_partitions": len(report.partitions),
        "first_scored": report.partitions[0] if report.partitions else None,
        "last_scored": report.partitions[-1] if report.partitions else None,
        "params": report.params,
        "seconds": report.seconds,
        "fits": report.fits,
        "notes": list(report.notes),
        "strategies": strategies,
    }


def report_lines(report: BacktestReport) -> list[str]:
    """The table a terminal shows: one line per strategy."""

    def pct(share: float | None) -> str:
        return "-" if share is None else f"{100 * share:.1f} %"

    also = [m for m, _ in report.result("oracle").score.secondary]
    lines = [
        f"{report.project}: {len(report.partitions)} partitions scored "
        f"({report.partitions[0]} .. {report.partitions[-1]}), first model as of {report.bootstrap_as_of}",
        f"{'strategy':<16} {report.metric:>12} {'of oracle':>10} {'retrains':>9} {'started':>8}"
        + "".join(f" {m + ' (of oracle)':>24}" for m in also),
    ]
    # "retrains": models that went live; "started": every retrain, those the gate turned down too
    # (a policy whose every challenger is rejected retrains 0 times and still works).
    for r in report.results:
        shares = secondary_shares(report, r)
        cells = "".join(f" {_cell(shares.get(m), pct):>24}" for m in also)
        lines.append(
            f"{r.score.strategy:<16} {r.score.value:>12.4f} {pct(r.share_of_oracle):>10} {r.score.retrains:>9}"
            f" {r.score.trainings - 1:>8}" + cells
        )
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"{report.fits} fits in {report.seconds:.1f} s")
    return lines


def _cell(share: dict[str, float | None] | None, pct: Callable[[float | None], str]) -> str:
    if share is None or share["value"] is None:
        return "-"
    return f"{share['value']:.4f} ({pct(share['share_of_oracle'])})"


def write_plot(report: BacktestReport, path: Path) -> Path:
    """The per-partition metric of every strategy, with the policy's decisions marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed to write a PNG
    import matplotlib.pyplot as plt

    x = _axis(report.partitions)
    fig, ax = plt.subplots(figsize=(12, 5), dpi=100)
    try:
        for r in report.results:
            values = pd.Series([np.nan if v is None else v for v in r.score.per_partition], index=x)
            smooth = values.rolling(SMOOTH_PARTITIONS, min_periods=1).mean()
            width = 2.0 if r.score.strategy in ("policy", "oracle") else 1.0
            ax.plot(x, smooth.to_numpy(), label=f"{r.score.strategy} ({r.score.retrains} retrains)", lw=width)
        _mark_decisions(ax, report, x)
        ax.set_xlabel("partition")
        ax.set_ylabel(f"{report.metric} ({SMOOTH_PARTITIONS}-partition mean)")
        ax.set_title(f"{report.project}: prequential {report.metric} by strategy")
        ax.legend(loc="best", fontsize="small")
        fig.autofmt_xdate()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _axis(keys: tuple[str, ...]) -> Any:
    """Partition keys as times ("2024-03-18", "2011-01-01-05:00"), else their positions."""
    try:
        return pd.to_datetime([k[:10] + " " + k[11:] if len(k) > 10 else k for k in keys])
    except (ValueError, TypeError):
        return pd.Index(range(len(keys)))


def _mark_decisions(ax: Any, report: BacktestReport, x: Any) -> None:
    policy = next((r for r in report.results if r.score.strategy == "policy"), None)
    if policy is None:
        return
    low = ax.get_ylim()[0]
    where = {key: x[i] for i, key in enumerate(report.partitions)}
    marks = (("promote", "^", "tab:green"), ("reject", "x", "tab:red"), ("fail", "v", "tab:orange"))
    for kind, marker, colour in marks:
        when = [where[e.partition] for e in policy.schedule.events if e.kind == kind and e.partition in where]
        if when:
            ax.scatter(when, [low] * len(when), marker=marker, color=colour, label=f"policy {kind}", zorder=3)
