"""`backtest --tune`: the fewest retrains that reach a target share of the oracle.

Settings are searched on the first half of the scored stream and judged on the second half,
which the search never saw: a recommendation that only fits the half it was tuned on shows up
as a lower second-half share. The search is one pass of coordinate descent from the project's
own settings (each knob tried at its values with the others held, the best kept), because a
full grid multiplies replays and each replay re-runs drift and estimation per partition. The
objective: reach the target with the fewest retrains; if no setting reaches it, the highest
share. The result is a recommendation written out for a person to read; it is never applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.backtest.policy import replay_policy
from mlops_pipelines.lib.backtest.schedules import Schedule
from mlops_pipelines.lib.backtest.scoring import score, share_of

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.spec import ProjectSpec

Settings = Mapping[str, Any]  # "section.field" -> value, e.g. "retraining.cooldown_partitions"


@dataclass(frozen=True)
class Trial:
    settings: dict[str, Any]
    share: float | None  # of the oracle on the judged partitions
    retrains: int  # retrains that went live within the judged partitions


@dataclass(frozen=True)
class TuneReport:
    target: float
    split: str  # the first partition of the second (report) half
    current_first: Trial
    best_first: Trial
    current_second: Trial
    best_second: Trial
    trials: tuple[Trial, ...]  # every setting tried on the first half, in order

    @property
    def recommendation(self) -> dict[str, Any]:
        """Only the settings that differ from the project's, as they go into the spec."""
        return {k: v for k, v in self.best_first.settings.items() if self.current_first.settings.get(k) != v}


def knobs(spec: ProjectSpec) -> dict[str, list[Any]]:
    """The values tried for each knob, around the project's own settings and its scales."""
    r, holdout = spec.retraining, spec.training.holdout_partitions
    return {
        "drift.calibration_margin": [1.0, 1.5, 2.5, 4.0],
        "retraining.performance_margin": [0.02, 0.05, 0.1, 0.2],
        "retraining.cooldown_partitions": sorted({0, holdout, 2 * holdout, r.cooldown_partitions}),
        "retraining.follow_up_partitions": sorted({0, max(1, holdout // 2), holdout, r.follow_up_partitions}),
        "retraining.drift_requires_performance": [False, True],
    }


def current_settings(spec: ProjectSpec) -> dict[str, Any]:
    return {key: getattr(getattr(spec, key.split(".")[0]), key.split(".")[1]) for key in knobs(spec)}


def with_settings(spec: ProjectSpec, settings: Settings) -> ProjectSpec:
    """`spec` with dotted settings replaced, validated as a spec file would be."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = value
    data = spec.model_dump()
    for section, values in sections.items():
        data[section] = {**data[section], **values}
    return type(spec).model_validate(data)


def judged(schedule: Schedule, bank: ModelBank, scored: range, part: range, oracle: float) -> Trial:
    """`schedule`'s share of the oracle and its live retrains on the partitions `part` of `scored`."""
    offset = part.start - scored.start
    sub = Schedule(
        schedule.strategy,
        schedule.serving[offset : offset + len(part)],
        tuple(a for a in schedule.retrains if part.start - 1 <= a < part.stop - 1),
        schedule.trainings,
    )
    value = score(sub, bank, part, also=False).value
    return Trial({}, share_of(value, oracle, bank.history.spec.training.primary_metric), sub.retrain_count)


def _key(trial: Trial, target: float) -> tuple[bool, float, float]:
    share = trial.share if trial.share is not None else -1.0
    reaches = share >= target
    return (reaches, -trial.retrains if reaches else share, share)


def tune(
    bank: ModelBank,
    boot: int,
    scored: range,
    oracle: Schedule,
    *,
    target: float = 0.98,
    progress: Callable[[str], None] | None = None,
) -> TuneReport:
    """Search on the first half of `scored`, report both halves (see the module docstring)."""
    spec = bank.history.spec
    mid = scored.start + len(scored) // 2
    first, second = range(scored.start, mid), range(mid, scored.stop)
    ceiling = {
        part: score(judged_schedule(oracle, scored, part), bank, part, also=False).value
        for part in (first, second)
    }

    def trial(settings: Settings, part: range, until: int) -> Trial:
        replayed = replay_policy(
            bank.with_spec(with_settings(spec, settings)), boot, range(scored.start, until)
        )
        found = judged(replayed, bank, range(scored.start, until), part, ceiling[part])
        if progress is not None:
            progress(f"tune {dict(settings)}: {found.share} of oracle, {found.retrains} retrains")
        return Trial(dict(settings), found.share, found.retrains)

    current = current_settings(spec)
    best = trial(current, first, mid)
    tried = [best]
    for key, values in knobs(spec).items():
        for value in values:
            if value == best.settings[key]:
                continue
            candidate = trial({**best.settings, key: value}, first, mid)
            tried.append(candidate)
            if _key(candidate, target) > _key(best, target):
                best = candidate
    return TuneReport(
        target=target,
        split=bank.history.keys[mid],
        current_first=tried[0],
        best_first=best,
        current_second=trial(current, second, scored.stop),
        best_second=trial(best.settings, second, scored.stop),
        trials=tuple(tried),
    )


def judged_schedule(schedule: Schedule, scored: range, part: range) -> Schedule:
    offset = part.start - scored.start
    return Schedule(schedule.strategy, schedule.serving[offset : offset + len(part)], (), schedule.trainings)


def trial_rows(report: TuneReport) -> Sequence[tuple[str, Trial]]:
    return (
        ("current settings, tuned half", report.current_first),
        ("recommended, tuned half", report.best_first),
        ("current settings, held-out half", report.current_second),
        ("recommended, held-out half", report.best_second),
    )
