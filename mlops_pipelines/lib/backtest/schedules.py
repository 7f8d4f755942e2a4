"""Which model serves each replayed partition, for the reference strategies.

A schedule names, for every scored partition, the as-of index of the model that serves it. A
model fitted as of partition `a` serves from `a + 1` on: it is trained when `a` has closed.

- static: the bootstrap model serves forever;
- periodic(K): a new model every K partitions, blind to monitoring;
- oracle: a new model before every partition (the upper bound a loop can hope to reach).
The project's own policy builds its schedule from monitoring signals (`backtest.policy`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReplayEvent:
    """One decision the replayed loop took, for the JSON and the plot."""

    partition: str  # where the decision was taken
    kind: str  # "retrain" | "promote" | "reject" | "fail" | "alarm"
    as_of: str | None = None  # the newest partition the new model could learn from
    reason: str = ""


@dataclass(frozen=True)
class Schedule:
    strategy: str
    serving: tuple[int, ...]  # as-of index of the model serving each scored partition
    retrains: tuple[int, ...]  # as-of indexes where a newly fitted model went live
    trainings: int  # models fitted by this strategy (a rejected challenger counts too)
    events: tuple[ReplayEvent, ...] = field(default=())

    @property
    def retrain_count(self) -> int:
        return len(self.retrains)


def static(boot: int, scored: range) -> Schedule:
    return Schedule("static", tuple(boot for _ in scored), (), 1)


def _always(as_of: int) -> bool:
    return True


def periodic(boot: int, scored: range, every: int, usable: Callable[[int], bool] = _always) -> Schedule:
    """Retrain as of every `every`-th partition after the bootstrap; serve from the next. A
    retrain whose window cannot be learned (`usable` False: the loop's run would fail) keeps
    the model it would have replaced; it counts as a training, not as a retrain."""
    if every < 1:
        raise ValueError(f"periodic retraining needs a period of at least 1 partition, got {every}")
    serving, retrains, current, failed = [], [], boot, 0
    for i in scored:
        due = i - 1
        if due > boot and (due - boot) % every == 0 and due != current:
            if usable(due):
                current = due
                retrains.append(due)
            else:
                failed += 1
        serving.append(current)
    return Schedule(f"periodic({every})", tuple(serving), tuple(retrains), 1 + len(retrains) + failed)


def oracle(boot: int, scored: range, usable: Callable[[int], bool] = _always) -> Schedule:
    """A fit before every partition; one whose window cannot be learned keeps the model before."""
    serving, current = [], boot
    for i in scored:
        if i - 1 > current and usable(i - 1):
            current = i - 1
        serving.append(current)
    retrains = tuple(sorted({a for a in serving if a != boot}))
    return Schedule("oracle", tuple(serving), retrains, 1 + len(retrains))


def matching_period(scored: range, retrains: int) -> int:
    """The period that gives a blind schedule about `retrains` retrains over the scored range."""
    return max(1, round(len(scored) / max(1, retrains + 1)))
