"""The retraining policy: a pure function from monitoring history to one decision.

The sensor that calls it owns all state (cursor, event log, run history); this module only
replays what it is given, so a burst of results arriving at once, a re-run and a restart
all give the same answer and the same run key.

Rules, applied while replaying the observations in partition order:
- A drift episode is a run of partitions whose status is 'warn' or 'error', ended by an
  'ok'. 'insufficient_data' and 'invalid' carry no verdict, so they neither count as drift
  nor end the streak or the episode: a gap in the data cannot reset (or fake) an alarm.
- An episode triggers one retrain, at the partition where its drift streak first reaches
  `consecutive_drift`. A KPI breach triggers on its own partition.
- Cooldown: no trigger within `cooldown_partitions` partitions after the trigger partition
  of the last successful retrain. A failed retrain starts no cooldown: it is retried with a
  new run key (attempt suffix) up to MAX_RETRIES times; then the episode is given up.
- At most `max_retrains` distinct triggers in any `per_partitions` partitions.
- While a retrain is still running (`succeeded is None`) nothing new starts.
The trigger partition is where the condition first held, not the newest partition, so the
run key stays the same however many later results arrive before the sensor acts.
"""

from __future__ import annotations

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
    status: str  # a DriftStatus: ok | warn | error | insufficient_data | invalid
    drift_share: float | None  # None: no verdict; the rules read the status, never the share
    kpi_breach: bool
    event_id: EventId


@dataclass(frozen=True)
class RetrainRecord:
    partition: str  # the trigger partition of that retrain
    run_key: str
    succeeded: bool | None  # None: still running


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    trigger_partition: str | None = None
    run_key: str | None = None
    triggering_events: tuple[EventId, ...] = ()
    attempt: int = 0


def run_key_for(trigger_partition: str, attempt: int) -> str:
    return f"retrain:{trigger_partition}:{attempt}"


def _indexer(partition_index: Callable[[str], int] | Sequence[str]) -> Callable[[str], int]:
    if callable(partition_index):
        return partition_index
    positions = {key: i for i, key in enumerate(partition_index)}

    def index(key: str) -> int:
        if key not in positions:
            raise ValueError(f"partition '{key}' is not one of the {len(positions)} known partition keys")
        return positions[key]

    return index


def _latest_per_partition(
    observations: Sequence[MonitoringObservation], index: Callable[[str], int]
) -> list[tuple[int, MonitoringObservation]]:
    """One observation per partition (a re-run's later event wins), in partition order."""
    latest: dict[str, MonitoringObservation] = {}
    for obs in observations:
        if obs.status not in KNOWN_STATUSES:
            raise ValueError(f"event {obs.event_id!r}: unknown monitoring status '{obs.status}'")
        latest[obs.partition] = obs
    return sorted(((index(p), o) for p, o in latest.items()), key=lambda item: item[0])


def attempt_of(record: RetrainRecord) -> int:
    """The attempt number in a run key made by `run_key_for`; 0 for a key of another shape."""
    prefix = f"retrain:{record.partition}:"
    suffix = record.run_key[len(prefix) :] if record.run_key.startswith(prefix) else ""
    return int(suffix) if suffix.isdigit() else 0


def _retry(
    history: Sequence[RetrainRecord],
    index: Callable[[str], int],
    ordered: list[tuple[int, MonitoringObservation]],
) -> RetrainDecision | None:
    """A retry of the newest trigger if its latest attempt failed and retries remain."""
    newest = max(history, key=lambda r: index(r.partition))
    # Ordered by the attempt in the run key, not by list position: callers list runs in any order.
    attempts = sorted((r for r in history if r.partition == newest.partition), key=attempt_of)
    if attempts[-1].succeeded is not False:
        return None
    made = max(len(attempts), attempt_of(attempts[-1]))
    if made > MAX_RETRIES:
        return None
    attempt = made + 1
    events = tuple(o.event_id for i, o in ordered if i == index(newest.partition))
    return RetrainDecision(
        retrain=True,
        reason=f"retry {attempt - 1} of {MAX_RETRIES}: retrain '{attempts[-1].run_key}' failed",
        trigger_partition=newest.partition,
        run_key=run_key_for(newest.partition, attempt),
        triggering_events=events,
        attempt=attempt,
    )


def should_retrain(
    observations: Sequence[MonitoringObservation],
    history: Sequence[RetrainRecord],
    policy: RetrainingSpec,
    partition_index: Callable[[str], int] | Sequence[str],
) -> RetrainDecision:
    """Whether to start a retrain now, which partition triggers it and its run key.

    `observations` are all monitoring results since the sensor's cursor plus enough history
    to see the current streak; `history` lists earlier retrains in any order (attempts are
    read from their run keys).
    """
    index = _indexer(partition_index)
    ordered = _latest_per_partition(observations, index)
    running = [r.run_key for r in history if r.succeeded is None]
    if running:
        return RetrainDecision(False, f"retrain {running} still running")
    if history and (retry := _retry(history, index, ordered)) is not None:
        return retry
    if not ordered:
        return RetrainDecision(False, "no monitoring observations")

    triggers = sorted({index(r.partition) for r in history})
    newest_trigger = triggers[-1] if triggers else None
    successes = [index(r.partition) for r in history if r.succeeded]
    last_success = max(successes) if successes else None
    streak: list[MonitoringObservation] = []
    episode_start: int | None = None
    blocked = f"no drift streak of {policy.consecutive_drift} partitions and no KPI breach"
    for i, obs in ordered:
        if obs.status == "ok":
            streak, episode_start = [], None
        elif obs.status in DRIFT_STATUSES:
            episode_start = i if episode_start is None else episode_start
            streak.append(obs)
        episode_handled = (
            episode_start is not None and newest_trigger is not None and newest_trigger >= episode_start
        )
        drift_due = len(streak) >= policy.consecutive_drift and not episode_handled
        if not (drift_due or obs.kpi_breach):
            continue
        cause = f"drift on {len(streak)} partitions" if drift_due else "KPI breach"
        if newest_trigger is not None and i <= newest_trigger:
            continue  # a retrain at or after this partition already happened
        if last_success is not None and i - last_success <= policy.cooldown_partitions:
            blocked = (
                f"{cause} at '{obs.partition}' inside the {policy.cooldown_partitions}-partition cooldown"
            )
            continue
        recent = [t for t in triggers if i - policy.per_partitions < t <= i]
        if len(recent) >= policy.max_retrains:
            blocked = (
                f"{cause} at '{obs.partition}': cap of {policy.max_retrains} retrains "
                f"per {policy.per_partitions} partitions reached"
            )
            continue
        events = tuple(o.event_id for o in streak) if drift_due else ()
        if obs.kpi_breach and obs.event_id not in events:
            events += (obs.event_id,)
        return RetrainDecision(
            retrain=True,
            reason=f"{cause} (up to '{obs.partition}')",
            trigger_partition=obs.partition,
            run_key=run_key_for(obs.partition, 1),
            triggering_events=events,
            attempt=1,
        )
    return RetrainDecision(False, blocked)
