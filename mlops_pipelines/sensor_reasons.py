"""The retraining sensor's skip reason: one short line that says what would make it act.

The UI shows it on every tick of the sensor page, so it leads with the state (running retrain,
no results yet, streak lengths, cooldown) and ends with the condition or partition at which the
sensor would request a retrain. The policy's full reasoning and warnings go to the tick's log.
Pure: no dagster, so every case is table-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlops_pipelines.lib.monitoring.policy_records import (
    DRIFT_STATUSES,
    MonitoringObservation,
    RetrainDecision,
    RetrainRecord,
)

if TYPE_CHECKING:
    from mlops_pipelines.spec import RetrainingSpec

# The policy's reasons for "nothing to judge" and "nothing fired" (lib/monitoring/policy.py).
_NO_OBSERVATIONS = "no monitoring observations"
_NO_TRIGGER = "no trigger"


def drift_streak(observations: Sequence[MonitoringObservation]) -> int:
    """Drifted partitions in a row at the newest end (a partition without drift ends it)."""
    count = 0
    for obs in reversed(observations):
        if obs.status not in DRIFT_STATUSES:
            break
        count += 1
    return count


def degraded_streak(observations: Sequence[MonitoringObservation]) -> int:
    """Labelled partitions in a row with realized performance degraded; partitions whose labels
    are not in yet (None) neither extend nor end it, as in the policy."""
    count = 0
    for obs in reversed(observations):
        if obs.realized_degraded is False:
            break
        count += obs.realized_degraded is True
    return count


def resume_partition(
    history: Sequence[RetrainRecord], keys: Sequence[str], policy: RetrainingSpec
) -> str | None:
    """The first partition past the cooldown (counted from the as-of of the newest retrain whose
    model went live) and under the cap (every finished retrain's as-of), as the policy counts
    them (None: beyond the known partitions, or no retrain yet)."""
    position = {key: i for i, key in enumerate(keys)}
    anchors = sorted(position[r.anchor] for r in history if r.succeeded and r.anchor in position)
    live = [position[r.anchor] for r in history if r.went_live and r.anchor in position]
    if not anchors:
        return None
    resume = (max(live) + policy.cooldown_partitions + 1) if live else anchors[-1] + 1
    if len(anchors) >= policy.max_retrains:
        # The window of `per_partitions` must drop the oldest of the newest `max_retrains` anchors.
        resume = max(resume, anchors[-policy.max_retrains] + policy.per_partitions)
    return keys[resume] if resume < len(keys) else None


def skip_reason(
    decision: RetrainDecision,
    observations: Sequence[MonitoringObservation],
    history: Sequence[RetrainRecord],
    keys: Sequence[str],
    policy: RetrainingSpec,
    daily_job: str,
    absorbed: int,
) -> str:
    """One line for the sensor page: the state, then what would make the sensor act."""
    new = f" ({absorbed} new)" if absorbed else ""
    running = [r.run_key for r in history if r.succeeded is None]
    if running:
        return f"retrain {running[-1]} is running; acts again when it ends{new}"
    if decision.reason.startswith(_NO_OBSERVATIONS):
        return f"no monitoring results for the current champion yet; acts once {daily_job} monitors a partition{new}"
    if decision.reason.startswith(_NO_TRIGGER):
        newest = observations[-1].partition if observations else "-"
        drift, degraded = drift_streak(observations), degraded_streak(observations)
        need_drift, need_degraded = policy.consecutive_drift, policy.performance_consecutive
        return (
            f"no trigger up to {newest}: drift {drift}/{need_drift} in a row, degraded labels "
            f"{degraded}/{need_degraded}; acts at {need_drift} drifted or {need_degraded} degraded "
            f"partitions in a row, or a KPI breach{new}"
        )
    # A signal fired but the cooldown or the cap holds it back (the policy's reason says which).
    resume = resume_partition(history, keys, policy)
    until = f"acts from {resume} if it persists" if resume else "acts when new partitions arrive"
    return f"{decision.reason}; {until}{new}"
