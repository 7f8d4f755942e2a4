"""When a timely sensor would have started a retrain: the as-of of a decision made on a backlog.

The sensor may read many partitions' results at once: after downtime, after a backfill, and in
the demo, which replays blocks of partitions. The policy's decision is the same either way (its
trigger partition and run key do not move as later results arrive), but the partition the
retrain trains up to, and from which its model serves, must be the one a sensor running as each
partition closed would have acted at. That is not always the trigger partition plus the label
delay: a realized-performance streak held back by the cooldown fires, in a timely sensor, at the
first partition past the cooldown with the labels it already had; read from a backlog, the same
streak also holds that partition's own (later) labels, and adding the delay trained and served
one delay too late (sim_recurring's demo: 2024-08-17 where the timely backtest had 2024-08-15).

So the as-of is found by asking the policy itself, partition by partition from the trigger, what
it would have decided with only what was known as that partition closed: drift and estimates of
the partitions up to it, labels (realized performance, KPI breaches) of those `delay` before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from mlops_pipelines.lib.monitoring.policy import should_retrain
from mlops_pipelines.lib.monitoring.policy_records import (
    MonitoringObservation,
    RetrainDecision,
    RetrainRecord,
)

if TYPE_CHECKING:
    from mlops_pipelines.spec import RetrainingSpec


def known_at(
    observations: Sequence[MonitoringObservation], at: int, delay: int, positions: dict[str, int]
) -> list[MonitoringObservation]:
    """The observations as a sensor knew them when partition `at` closed: none of later
    partitions, and no label-based verdict of the last `delay` partitions (labels not in yet)."""
    known = []
    for obs in observations:
        i = positions.get(obs.partition)
        if i is None or i > at:
            continue
        if i > at - delay:
            obs = replace(obs, realized_degraded=None, kpi_breach=False)
        known.append(obs)
    return known


def timely_as_of(
    decision: RetrainDecision,
    observations: Sequence[MonitoringObservation],
    history: Sequence[RetrainRecord],
    policy: RetrainingSpec,
    keys: Sequence[str],
    delay: int,
    newest: str,
) -> str:
    """The first partition from the decision's trigger up to `newest` at whose close the policy,
    knowing only what was known then, would have retrained; `newest` when none (never later).

    A retry trains to the as-of its failed attempt recorded: it is the same retrain again, and
    the policy would answer "retry" at every partition (the trigger itself, one delay early)."""
    positions = {key: i for i, key in enumerate(keys)}
    trigger = decision.trigger_partition or newest
    if trigger not in positions or newest not in positions:
        return newest
    if "retry" in decision.signals:
        failed = [r.as_of for r in history if r.partition == trigger and r.as_of in positions]
        if failed:
            return min(max(failed, key=positions.__getitem__), newest, key=positions.__getitem__)
    for at in range(positions[trigger], positions[newest] + 1):
        if should_retrain(known_at(observations, at, delay, positions), history, policy, keys).retrain:
            return keys[at]
    return newest
