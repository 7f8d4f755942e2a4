"""The retraining policy: a pure function from monitoring history to one decision.

The sensor that calls it owns all state (cursor, event log, run history) and the offline
backtest replays the same function partition by partition, so the loop and its backtest decide
alike. A burst of results arriving at once, a re-run and a restart all give the same answer and
the same run key.

Signals per partition (each observation carries them; `None` means no verdict yet):
- drift status, from thresholds calibrated on the champion's own training data (`calibration`);
- estimated performance (CBPE / DLE) degraded against the champion's evaluated level;
- realized performance degraded against what the champion expected for the same rows (once
  labels arrive), and a KPI breach the estimate does not explain.

Rules, replayed in partition order over the partitions after the newest successful retrain's
as-of (those partitions are the current champion's):
- realized: `performance_consecutive` labelled partitions in a row with realized performance
  degraded trigger a retrain;
- estimated: a whole performance window (`performance_window_partitions`, at least
  `performance_consecutive`) of partitions in a row whose label-free estimate is below the
  champion's evaluated level (by the margin and z) triggers one before any label arrives:
  covariate shift that hurts this model;
- KPI: an unexplained KPI breach triggers a retrain;
- growth: a whole performance window of partitions in a row holding `growth_factor` times the
  rows per partition the champion trained on triggers one (a grown feed teaches more);
- drift: `consecutive_drift` partitions in a row with calibrated drift trigger a retrain, unless
  the performance signals contradict it: every partition of the streak has a performance verdict
  and none says degraded. Contradicted drift is a warning (in the decision's `warnings`), not a
  retrain. With `drift_requires_performance`, drift only triggers when some performance signal
  of the streak says degraded;
- follow-up: `follow_up_partitions` after a retrain's as-of, another one, while retraining pays
  off (the window is catching up with moving data); each retrain in a row that did not pay off
  doubles the wait, and after `follow_up_misses` of them the chain stops until a signal starts
  a new one. A retrain with no verdict on that (the first model) starts no chain. One that
  gained twice `performance_margin` comes back after half the spacing (the champion was far
  behind: a sudden change), one the gate could not judge for want of rows lengthens it;
- cooldown: no trigger within `cooldown_partitions` partitions after the as-of of the newest
  retrain whose model went live or that failed (one the gate turned down starts none); at most
  `max_retrains` successful retrains, promoted or not, whose as-of falls in the `per_partitions`
  before the trigger or after it;
- a failed retrain is retried with a new run key (attempt suffix) up to MAX_RETRIES times;
- while a retrain is still running nothing new starts.
The trigger partition is where the condition first held, so the run key stays the same however
many later results arrive before the sensor acts; every reason names its signals, partitions
and the as-of the model will be trained to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.spec import RetrainingSpec

from mlops_pipelines.lib.monitoring.policy_records import (
    DRIFT_STATUSES,
    KNOWN_STATUSES,
    MAX_RETRIES,
    NO_VERDICT_STATUSES,
    EventId,
    MonitoringObservation,
    RetrainDecision,
    RetrainRecord,
    attempt_of,
    follow_up_spacing,
    indexer,
    latest_per_partition,
    retry_decision,
    run_key_for,
)

__all__ = [
    "DRIFT_STATUSES",
    "KNOWN_STATUSES",
    "MAX_RETRIES",
    "NO_VERDICT_STATUSES",
    "EventId",
    "MonitoringObservation",
    "RetrainDecision",
    "RetrainRecord",
    "attempt_of",
    "run_key_for",
    "should_retrain",
]


def _span(observations: Sequence[MonitoringObservation]) -> str:
    first, last = observations[0].partition, observations[-1].partition
    return first if first == last else f"{first}..{last}"


def _contradicted(streak: Sequence[MonitoringObservation]) -> bool:
    verdicts = [(o.estimated_degraded, o.realized_degraded) for o in streak]
    every_partition_judged = all(e is not None or r is not None for e, r in verdicts)
    return every_partition_judged and not any(e or r for e, r in verdicts)


@dataclass
class _Replay:
    """Running state of one replay over the current champion's partitions.

    An episode is a streak of drift (or of degraded realized performance) ended by a partition
    that says otherwise ('ok' drift, realized not degraded). An episode that already triggered a
    retrain does not trigger again for `rearm_partitions`: the gate judged its challenger, and a
    rejected one keeps the champion it was judged against. A new champion starts with no episode.
    """

    policy: RetrainingSpec
    last_trigger: int | None
    drift: list[tuple[int, MonitoringObservation]] = field(default_factory=list)
    realized: list[tuple[int, MonitoringObservation]] = field(default_factory=list)
    estimated: list[tuple[int, MonitoringObservation]] = field(default_factory=list)
    grown: list[tuple[int, MonitoringObservation]] = field(default_factory=list)
    warned: dict[int, str] = field(default_factory=dict)  # episode start -> its warning

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self.warned[start] for start in sorted(self.warned))

    def _handled(self, streak: list[tuple[int, MonitoringObservation]], i: int) -> bool:
        """Whether the episode `streak` already triggered a retrain that still answers it.

        Its challenger was judged then; if the episode still goes on `rearm_partitions` later,
        the evaluation window has rolled further into the new data and a retrain is judged
        again (a sudden change first shows in one or two labelled partitions of the window)."""
        if not streak or self.last_trigger is None or self.last_trigger < streak[0][0]:
            return False
        rearm = self.policy.rearm_partitions
        return rearm == 0 or i - self.last_trigger < rearm

    def step(
        self, i: int, obs: MonitoringObservation
    ) -> tuple[str, str, tuple[MonitoringObservation, ...]] | None:
        """(signal, cause, observations) when partition `i` completes a trigger condition."""
        factor = self.policy.growth_factor
        grew = factor > 0 and obs.row_growth is not None and obs.row_growth >= factor
        self.grown = [*self.grown, (i, obs)] if grew else []
        if obs.status == "ok":
            self.drift = []
        elif obs.status in DRIFT_STATUSES:
            self.drift.append((i, obs))
        if obs.realized_degraded is True:
            self.realized.append((i, obs))
        elif obs.realized_degraded is False:
            self.realized = []
        if len(self.realized) >= self.policy.performance_consecutive and not self._handled(self.realized, i):
            streak = tuple(o for _, o in self.realized)
            cause = f"realized performance worse than expected on {len(streak)} labelled partitions ({_span(streak)})"
            return "realized", cause, streak
        if obs.estimated_degraded is True:
            self.estimated.append((i, obs))
        elif obs.estimated_degraded is False:
            self.estimated = []
        # Estimates of neighbouring partitions share most of their window: only a whole window
        # of them in a row is independent evidence (one window of a harder row mix is not).
        needed = max(self.policy.performance_consecutive, self.policy.performance_window_partitions)
        if len(self.estimated) >= needed and not self._handled(self.estimated, i):
            streak = tuple(o for _, o in self.estimated)
            cause = (
                f"estimated performance below the champion's evaluated level on {len(streak)} partitions "
                f"({_span(streak)})"
            )
            return "estimated", cause, streak
        if obs.kpi_breach:
            return "kpi", f"KPI breach at '{obs.partition}' that the estimate does not explain", (obs,)
        if len(self.grown) >= self.policy.performance_window_partitions and not self._handled(self.grown, i):
            streak = tuple(o for _, o in self.grown)
            least = min(o.row_growth or 0.0 for o in streak)
            cause = (
                f"data grew: {len(streak)} partitions ({_span(streak)}) hold at least {least:.1f}x the rows "
                "per partition the champion trained on"
            )
            return "growth", cause, streak
        if len(self.drift) < self.policy.consecutive_drift or self._handled(self.drift, i):
            return None
        streak = tuple(o for _, o in self.drift)
        hurt = any(o.estimated_degraded or o.realized_degraded for o in streak)
        if _contradicted(streak) or (self.policy.drift_requires_performance and not hurt):
            # One warning per episode, naming all of it so far.
            self.warned[self.drift[0][0]] = (
                f"drift on {_span(streak)} not confirmed by performance: warning only"
            )
            return None
        why = "with performance degraded" if hurt else "with no performance verdict against it"
        return "drift", f"drift on {len(streak)} partitions ({_span(streak)}) {why}", streak


def _judged(ordered: list[tuple[int, MonitoringObservation]]) -> list[tuple[int, MonitoringObservation]]:
    """The current champion's observations: those that name the champion of the newest one
    (observations that name none are all kept: the caller has cut them already)."""
    current = ordered[-1][1].champion_version if ordered else None
    if current is None:
        return ordered
    return [(i, o) for i, o in ordered if o.champion_version == current]


def _follow_up(
    history: Sequence[RetrainRecord], index: Callable[[str], int], policy: RetrainingSpec
) -> tuple[RetrainRecord | None, int | None]:
    """The newest successful retrain and the partition index its follow-up is due at (None: none).

    Only judged retrains (improved True or False) extend or break the chain. One the gate could
    not judge after a judged one (too few new rows since the champion: `improved` None) is no
    miss, but it shows the spacing is too short for this data's rows per partition, and the
    spacing grows by the rows it lacked (at most doubled: compounding it starved bike_sharing of
    retrains); a large gain shortens it (`follow_up_spacing`). The next follow-up waits that
    spacing past the newest retrain."""
    done = sorted((r for r in history if r.succeeded), key=lambda r: index(r.anchor))
    newest = done[-1] if done else None
    judged = [r for r in done if r.improved is not None]
    if newest is None or not judged or policy.follow_up_partitions == 0:
        return newest, None
    first_judged = done.index(judged[0])
    misses = 0
    for record in reversed(judged):
        if record.improved:
            break
        misses += 1
    if misses > policy.follow_up_misses:
        return newest, None
    too_soon = [r for r in done[first_judged:] if r.improved is None]
    spacing = follow_up_spacing(policy, too_soon, None if misses else judged[-1].gain)
    due = index(judged[-1].anchor) + spacing * 2**misses
    return newest, max(due, index(newest.anchor) + spacing)


def should_retrain(
    observations: Sequence[MonitoringObservation],
    history: Sequence[RetrainRecord],
    policy: RetrainingSpec,
    partition_index: Callable[[str], int] | Sequence[str],
) -> RetrainDecision:
    """Whether to start a retrain now, which partition triggers it and its run key.

    `observations` are the monitoring results the caller knows (each partition's latest wins);
    `history` lists earlier retrains in any order (attempts are read from their run keys).
    """
    index = indexer(partition_index)
    ordered = latest_per_partition(observations, index)
    running = [r.run_key for r in history if r.succeeded is None]
    if running:
        return RetrainDecision(False, f"retrain {running} still running")
    if history and (retry := retry_decision(history, index)) is not None:
        return retry
    # The cooldown gives a new champion time to be observed; a retrain the gate turned down left
    # the champion it was judged against, and fresh evidence against that one need not wait (the
    # episode that started it waits `rearm_partitions`; the cap counts every retrain). A failed
    # retrain whose retries are spent starts one too: data it cannot learn from (a window of one
    # class) does not heal at once, and its runs make no model, so they do not count in the cap.
    spent = {r.partition for r in history if r.succeeded is False}
    spent -= {r.partition for r in history if r.succeeded}
    # (Nothing is running here, so every attempt of a `spent` partition failed.)
    live = [index(r.anchor) for r in history if r.went_live or r.partition in spent]
    since = max(live) if live else None
    current = _judged(ordered)
    if not current:
        return RetrainDecision(False, "no monitoring observations of the current champion yet")
    anchors = sorted({index(r.anchor) for r in history if r.succeeded})
    # A trigger at or before an earlier one's partition would reuse a consumed run key.
    last_trigger = max((index(r.partition) for r in history), default=None)
    replay = _Replay(policy, last_trigger)
    blocked = "no trigger: no drift streak, no degraded performance, no KPI breach"
    newest, follow_up = _follow_up(history, index, policy)
    for i, obs in current:
        fired = replay.step(i, obs)
        if fired is None and follow_up is not None and i >= follow_up:
            anchor = newest.anchor if newest else ""
            cause = f"follow-up {i - index(anchor)} partitions after the retrain as of '{anchor}'"
            fired = ("follow-up", cause, (obs,))
        if fired is None:
            continue
        signal, cause, streak = fired
        if last_trigger is not None and i <= last_trigger:
            continue
        if since is not None and i - since <= policy.cooldown_partitions:
            blocked = f"{cause} inside the {policy.cooldown_partitions}-partition cooldown"
            continue
        # Every retrain since `per_partitions` before the trigger counts, also one whose as-of is
        # past it (a trigger that lags behind retrains which failed or were turned down).
        recent = [a for a in anchors if a > i - policy.per_partitions]
        if len(recent) >= policy.max_retrains:
            blocked = f"{cause}: cap of {policy.max_retrains} retrains per {policy.per_partitions} partitions"
            continue
        return RetrainDecision(
            retrain=True,
            reason=cause,
            trigger_partition=obs.partition,
            run_key=run_key_for(obs.partition, 1),
            triggering_events=tuple(dict.fromkeys(o.event_id for o in streak)),
            attempt=1,
            signals=(signal,),
            warnings=replay.warnings,
        )
    return RetrainDecision(False, blocked, warnings=replay.warnings)
