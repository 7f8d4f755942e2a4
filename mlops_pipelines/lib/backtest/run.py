"""`mlops-pipelines backtest`: one project's history replayed offline, written out for people.

Reads the project's whole source once, replays static, oracle, the project's policy and blind
periodic retraining (at the policy's retrain count, and any periods asked for) on the same
cached fits, and writes `backtest.json` and `backtest.png` under the output directory. With
`tune`, the settings search of `backtest.tune` runs on the same fits and its recommendation is
written to `recommendation.yaml` beside them: a suggestion for the spec, never applied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.engine import BacktestReport
    from mlops_pipelines.lib.backtest.tune import TuneReport
    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class BacktestRun:
    report: BacktestReport
    tuned: TuneReport | None
    json_path: Path
    plot_path: Path
    recommendation_path: Path | None


def tune_json(tuned: TuneReport) -> dict[str, Any]:
    from mlops_pipelines.lib.backtest.tune import trial_rows

    return {
        "target_share": tuned.target,
        "report_half_starts": tuned.split,
        "recommendation": tuned.recommendation,
        "results": [
            {"what": what, "share_of_oracle": t.share, "retrains": t.retrains, "settings": t.settings}
            for what, t in trial_rows(tuned)
        ],
        "trials": [
            {"settings": t.settings, "share_of_oracle": t.share, "retrains": t.retrains} for t in tuned.trials
        ],
    }


def recommendation_yaml(spec: ProjectSpec, tuned: TuneReport) -> str:
    """The recommended settings as spec sections, with what they measured, for a person to apply."""
    import yaml

    sections: dict[str, dict[str, Any]] = {}
    for key, value in tuned.recommendation.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value

    def pct(share: float | None) -> str:
        return "n/a" if share is None else f"{100 * share:.1f} %"

    header = [
        f"# backtest --tune recommendation for {spec.name} (not applied: copy into the spec if it convinces you)",
        f"# target: {100 * tuned.target:.0f} % of the oracle with the fewest retrains; tuned before {tuned.split},",
        "# judged from it on (the held-out half):",
        f"#   current settings: {pct(tuned.current_second.share)} with {tuned.current_second.retrains} retrains",
        f"#   recommended:      {pct(tuned.best_second.share)} with {tuned.best_second.retrains} retrains",
    ]
    body = (
        yaml.safe_dump(sections, sort_keys=True)
        if sections
        else "# the project's settings are already the best found\n"
    )
    return "\n".join(header) + "\n" + body


def backtest_project(
    spec: ProjectSpec,
    data_dir: str | None,
    out_dir: Path,
    cache_dir: Path,
    *,
    periods: Sequence[int] = (),
    tune: bool = False,
    target: float = 0.98,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestRun:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one thread per process: see `engine`
        return _backtest_project(spec, data_dir, out_dir, cache_dir, periods, tune, target, workers, progress)


def _backtest_project(
    spec: ProjectSpec,
    data_dir: str | None,
    out_dir: Path,
    cache_dir: Path,
    periods: Sequence[int],
    tune: bool,
    target: float,
    workers: int | None,
    progress: Callable[[str], None] | None,
) -> BacktestRun:
    from mlops_pipelines.lib.backtest import engine, output, schedules
    from mlops_pipelines.lib.backtest.history import load_history
    from mlops_pipelines.lib.backtest.policy import replay_policy

    say = progress or (lambda _text: None)
    say(f"{spec.name}: reading the source")
    history = load_history(spec, data_dir, cache_dir)
    say(f"{spec.name}: {len(history.keys)} partitions, {len(history.table)} labelled rows; replaying")
    from mlops_pipelines.lib.backtest.models import ModelBank

    boot = engine.bootstrap_index(history)
    bank = ModelBank(history, engine.bootstrap_params(history, boot), workers, progress=say)
    report = engine.run_backtest(history, policy=replay_policy, periods=periods, bank=bank)
    out_dir.mkdir(parents=True, exist_ok=True)
    tuned = None
    recommendation_path = None
    if tune:
        from mlops_pipelines.lib.backtest.tune import tune as run_tune

        scored = range(boot + 1, len(history.keys))
        tuned = run_tune(
            bank, boot, scored, schedules.oracle(boot, scored, bank.usable), target=target, progress=say
        )
        recommendation_path = out_dir / "recommendation.yaml"
        recommendation_path.write_text(recommendation_yaml(spec, tuned), encoding="utf-8")
    document = output.report_json(report)
    if tuned is not None:
        document["tune"] = tune_json(tuned)
    json_path = out_dir / "backtest.json"
    json_path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    plot_path = output.write_plot(report, out_dir / "backtest.png")
    return BacktestRun(report, tuned, json_path, plot_path, recommendation_path)
