"""`backtest`: replay a project's history offline and compare retraining strategies.

One thread per process (`threadpool_limits(1)` around the whole replay, inherited by the forked
fit workers): the replay predicts thousands of small batches, and OpenMP's per-call thread
start-up in scikit-learn's gradient boosting made prediction 8x slower than one thread.

One bootstrap search picks the hyperparameters (the same `train_model` the loop runs); every
strategy then serves models of that family and those parameters, fitted on the same windows
(`models.fit_window`), so the strategies differ only in WHEN they retrain. The oracle retrains
before every partition: it is the ceiling, and the others are reported as a share of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.backtest import schedules
from mlops_pipelines.lib.backtest.models import ModelBank, fit_window
from mlops_pipelines.lib.backtest.scoring import Score, score, share_of

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.history import History
    from mlops_pipelines.lib.backtest.schedules import Schedule
    from mlops_pipelines.lib.training.window import LabelledRows
    from mlops_pipelines.spec import RetrainingSpec


class BacktestError(ValueError):
    """A history too short to replay, or a request the backtest cannot serve."""


@dataclass(frozen=True)
class StrategyResult:
    score: Score
    share_of_oracle: float | None
    schedule: Schedule


@dataclass(frozen=True)
class BacktestReport:
    project: str
    metric: str
    partitions: tuple[str, ...]  # the scored partitions
    bootstrap_as_of: str
    params: dict[str, Any]
    results: tuple[StrategyResult, ...]
    seconds: float
    fits: int
    notes: tuple[str, ...] = field(default=())
    keys: tuple[str, ...] = field(default=())  # every partition of the history (schedules index it)

    def result(self, strategy: str) -> StrategyResult:
        for r in self.results:
            if r.score.strategy == strategy:
                return r
        raise KeyError(f"no strategy '{strategy}' in this backtest")


def bootstrap_index(history: History) -> int:
    """Where the loop trains its first model: as soon as half a training window, the holdout and
    the label delay have arrived (the demo uses the same rule, whatever its block size), and
    the window's labels can be learned from (`policy.retrain_problem`: a binary stream whose
    first weeks hold one class waits for both, as the demo does)."""
    from mlops_pipelines.lib.backtest.policy import retrain_problem

    spec = history.spec
    count = (
        spec.training.window_partitions // 2
        + spec.training.holdout_partitions
        + spec.monitoring.label_delay_partitions
    )
    boot, problem = max(count - 1, 0), None
    while boot < len(history.keys) - 1:
        if fit_window(history, boot) is not None:
            problem = retrain_problem(history, boot)
            if problem is None:
                return boot
        boot += 1
    why = f"; the newest window could not be learned from: {problem}" if problem else ""
    raise BacktestError(
        f"{spec.name}: {len(history.keys)} partition(s) with rows; the first model needs {count} "
        f"and at least one more partition must remain to score{why}"
    )


def _bootstrap_rows(history: History, boot: int) -> LabelledRows:
    """The rows the loop's first training run as of partition `boot` learns from."""
    from mlops_pipelines.lib.training.window import select_window, split_features

    window = select_window(history.keys[: boot + 1], history.spec, history.keys[boot])
    first, last = history.keys.index(window.train[0]), history.keys.index(window.train[-1])
    return split_features(history.rows(first, last), history.spec)


def bootstrap_params(history: History, boot: int) -> dict[str, Any]:
    """The hyperparameters the loop's first training run would choose (its search and CV)."""
    from mlops_pipelines.lib.training.search import train_model

    labelled = _bootstrap_rows(history, boot)
    trained = train_model(labelled.features, labelled.target, history.spec, event_time=labelled.event_time)
    return dict(trained.best_params)


def _unlearnable_note(bank: ModelBank, scored: range) -> list[str]:
    """A note naming the partitions no model could be trained as of (every strategy kept the
    model it had there), with the first reason."""
    failed = [a for a in range(scored.start, scored.stop - 1) if not bank.usable(a)]
    if not failed:
        return []
    keys = bank.history.keys
    return [
        f"no model can be trained as of {len(failed)} partition(s) between {keys[failed[0]]} and "
        f"{keys[failed[-1]]} ({keys[failed[0]]}: {bank.problem(failed[0])}); a strategy retraining "
        "there keeps the model it has, as the loop keeps its champion when a retrain run fails"
    ]


PolicyReplay = Callable[[ModelBank, int, range], "Schedule"]


def budget_period(retraining: RetrainingSpec) -> int:
    """The blind period that spends the retraining cap (`max_retrains` per `per_partitions`)
    evenly: the most often the policy may ever retrain, so blind retraining at it shows what
    the budget can buy at all (a target no cadence within it reaches is not the policy's to meet)."""
    return max(1, math.ceil(retraining.per_partitions / retraining.max_retrains))


def closest_period(
    scored: range, boot: int, retrains: int, usable: Callable[[int], bool] = lambda _: True
) -> int:
    """The blind period whose retrain count is closest to `retrains` (ties: fewer retrains)."""
    best, best_gap = len(scored), None
    for every in range(1, len(scored) + 1):
        count = schedules.periodic(boot, scored, every, usable).retrain_count
        gap = (abs(count - retrains), count)
        if best_gap is None or gap < best_gap:
            best, best_gap = every, gap
    return best


def run_backtest(
    history: History,
    *,
    policy: PolicyReplay | None = None,
    periods: Sequence[int] = (),
    workers: int | None = None,
    params: dict[str, Any] | None = None,
    bank: ModelBank | None = None,
) -> BacktestReport:
    """Static, oracle, the policy (if given), periodic at the policy's retrain count, and any
    extra `periods`; every score pooled over the same scored partitions. A `bank` passed in is
    used (and filled) instead of a new one, so a caller can reuse its fits afterwards."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_backtest(history, policy, periods, workers, params, bank)


def _run_backtest(
    history: History,
    policy: PolicyReplay | None,
    periods: Sequence[int],
    workers: int | None,
    params: dict[str, Any] | None,
    bank: ModelBank | None,
) -> BacktestReport:
    started = time.perf_counter()
    boot = bootstrap_index(history)
    scored = range(boot + 1, len(history.keys))
    if bank is None:
        chosen = params if params is not None else bootstrap_params(history, boot)
        bank = ModelBank(history, chosen, workers)
    chosen = bank.params
    oracle = schedules.oracle(boot, scored, bank.usable)
    bank.prefit([boot, *oracle.retrains])
    plans: list[Schedule] = [schedules.static(boot, scored), oracle]
    notes: list[str] = []
    if policy is not None:
        replayed = policy(bank, boot, scored)
        plans.append(replayed)
        matched = closest_period(scored, boot, replayed.retrain_count, bank.usable)
        retraining = history.spec.retraining
        budget = budget_period(retraining)
        periods = list(dict.fromkeys([matched, budget, *periods]))
        notes.append(f"periodic({matched}) retrains about as often as the policy ({replayed.retrain_count})")
        notes.append(
            f"periodic({budget}) spends the policy's whole budget ({retraining.max_retrains} retrains per "
            f"{retraining.per_partitions} partitions): what blind retraining reaches at the cap"
        )
    plans.extend(schedules.periodic(boot, scored, every, bank.usable) for every in periods)
    notes.extend(_unlearnable_note(bank, scored))
    scores = [score(plan, bank, scored) for plan in plans]
    ceiling = scores[1].value
    results = tuple(
        StrategyResult(s, share_of(s.value, ceiling, s.metric), plan)
        for s, plan in zip(scores, plans, strict=True)
    )
    return BacktestReport(
        project=history.spec.name,
        metric=history.spec.training.primary_metric,
        partitions=tuple(history.keys[i] for i in scored),
        bootstrap_as_of=history.keys[boot],
        params=chosen,
        results=results,
        seconds=round(time.perf_counter() - started, 2),
        fits=bank.fits,
        notes=tuple(notes),
        keys=history.keys,
    )
