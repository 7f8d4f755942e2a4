"""The records the retraining policy reads and returns: one observation per monitored
partition, one record per earlier retrain, and the decision (with its run key)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.spec import RetrainingSpec

MAX_RETRIES = 2
DRIFT_STATUSES = frozenset({"warn", "error"})
NO_VERDICT_STATUSES = frozenset({"insufficient_data", "invalid"})
KNOWN_STATUSES = DRIFT_STATUSES | NO_VERDICT_STATUSES | {"ok"}

EventId = int | str


@dataclass(frozen=True)
class MonitoringObservation:
    partition: str
    status: str  # drift status: ok | warn | error | insufficient_data | invalid
    drift_share: float | None  # None: no verdict; the rules read the status, never the share
    kpi_breach: bool  # a realized KPI breach the champion's estimate does not explain
    event_id: EventId
    estimated_degraded: bool | None = None  # None: no estimate (no estimator, too few rows)
    realized_degraded: bool | None = None  # None: labels not in yet, or too few rows
    champion_version: str | None = None  # the champion the observation judged (None: unknown)
    # Rows per partition of the drift window against the champion's training data's (None: unknown).
    row_growth: float | None = None


@dataclass(frozen=True)
class RetrainRecord:
    partition: str  # the trigger partition of that retrain
    run_key: str
    succeeded: bool | None  # None: still running
    as_of: str | None = None  # the newest partition its model could use (None: unknown, use partition)
    improved: bool | None = None  # it paid off: promoted, and better than the champion it was judged against
    promoted: bool | None = None  # its model went live (False: the gate kept the champion; None: unknown)
    # When the gate could not judge it for want of rows: the compared rows' share of the rows it
    # needed (`promotion.min_rows`), 0 with none; None otherwise or unknown.
    evidence_share: float | None = None
    # Its gate's improvement on the champion relative to the champion's score (None: not judged).
    gain: float | None = None

    @property
    def went_live(self) -> bool:
        """A finished retrain whose model serves (or may: the outcome is unknown)."""
        return bool(self.succeeded) and self.promoted is not False

    @property
    def anchor(self) -> str:
        return self.as_of or self.partition


@dataclass(frozen=True)
class GateOutcome:
    """What a finished retrain's gate decided, as the policy reads it (see `RetrainRecord`)."""

    promoted: bool | None
    improved: bool | None
    evidence_share: float | None = None
    gain: float | None = None  # the improvement relative to the champion's score


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    trigger_partition: str | None = None
    run_key: str | None = None
    triggering_events: tuple[EventId, ...] = ()
    attempt: int = 0
    signals: tuple[str, ...] = ()  # what caused it: realized, kpi, drift, retry
    warnings: tuple[str, ...] = ()  # drift the performance signals contradict, and the like


def run_key_for(trigger_partition: str, attempt: int) -> str:
    return f"retrain:{trigger_partition}:{attempt}"


def attempt_of(record: RetrainRecord) -> int:
    """The attempt number in a run key made by `run_key_for`; 0 for a key of another shape."""
    prefix = f"retrain:{record.partition}:"
    suffix = record.run_key[len(prefix) :] if record.run_key.startswith(prefix) else ""
    return int(suffix) if suffix.isdigit() else 0


def retry_decision(history: Sequence[RetrainRecord], index: Callable[[str], int]) -> RetrainDecision | None:
    """A retry of the newest trigger if its latest attempt failed and retries remain."""
    newest = max(history, key=lambda r: index(r.partition))
    attempts = sorted((r for r in history if r.partition == newest.partition), key=attempt_of)
    if attempts[-1].succeeded is not False:
        return None
    made = max(len(attempts), attempt_of(attempts[-1]))
    if made > MAX_RETRIES:
        return None
    attempt = made + 1
    return RetrainDecision(
        retrain=True,
        reason=f"retry {attempt - 1} of {MAX_RETRIES}: retrain '{attempts[-1].run_key}' failed",
        trigger_partition=newest.partition,
        run_key=run_key_for(newest.partition, attempt),
        attempt=attempt,
        signals=("retry",),
    )


def indexer(partition_index: Callable[[str], int] | Sequence[str]) -> Callable[[str], int]:
    if callable(partition_index):
        return partition_index
    positions = {key: i for i, key in enumerate(partition_index)}

    def index(key: str) -> int:
        if key not in positions:
            raise ValueError(f"partition '{key}' is not one of the {len(positions)} known partition keys")
        return positions[key]

    return index


def latest_per_partition(
    observations: Sequence[MonitoringObservation], index: Callable[[str], int]
) -> list[tuple[int, MonitoringObservation]]:
    """One observation per partition (a re-run's later event wins), in partition order."""
    latest: dict[str, MonitoringObservation] = {}
    for obs in observations:
        if obs.status not in KNOWN_STATUSES:
            raise ValueError(f"event {obs.event_id!r}: unknown monitoring status '{obs.status}'")
        latest[obs.partition] = obs
    return sorted(((index(p), o) for p, o in latest.items()), key=lambda item: item[0])


def evidence_share(compared_rows: int | None, needed_rows: int) -> float:
    """The share of the rows the gate needed that it had (0 with none; at most 1)."""
    if not compared_rows:
        return 0.0
    return 1.0 if needed_rows <= 0 else min(1.0, compared_rows / needed_rows)


def relative_gain(improvement: float | None, champion_score: float | None) -> float | None:
    """A challenger's improvement on the champion as a share of the champion's score."""
    if improvement is None or not champion_score:
        return None
    return float(improvement) / abs(float(champion_score))


def follow_up_spacing(policy: RetrainingSpec, too_soon: Sequence[RetrainRecord], gain: float | None) -> int:
    """Partitions between follow-ups.

    After retrains the gate could not judge for want of rows (`too_soon`): the base grown by the
    largest shortfall (a spacing of `base` gave `share` of the rows needed), between base + 1 and
    twice the base. Otherwise, when the newest retrain paid off by at least twice
    `performance_margin` of the champion's score (`gain`), the champion was far behind and its
    window holds little of the new data yet (a sudden change): half the base, not below the
    cap's own cadence (`per_partitions` / `max_retrains`)."""
    base = policy.follow_up_partitions
    if too_soon:
        shares = [r.evidence_share for r in too_soon]
        if any(s is None or s <= 0 for s in shares):
            return 2 * base
        least = min(s for s in shares if s is not None)
        return min(2 * base, max(base + 1, math.ceil(base / least - 1e-9)))
    if gain is not None and gain >= 2 * policy.performance_margin:
        return min(base, max(math.ceil(policy.per_partitions / policy.max_retrains), math.ceil(base / 2)))
    return base
