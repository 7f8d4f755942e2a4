"""The as-of of a decision read from a backlog: where a sensor running as each partition closed
would have acted (partitions p00, p01, ...; labels arrive one partition late)."""

from __future__ import annotations

from mlops_pipelines.lib.monitoring.policy import should_retrain
from mlops_pipelines.lib.monitoring.policy_records import MonitoringObservation, RetrainRecord
from mlops_pipelines.lib.monitoring.policy_timing import known_at, timely_as_of
from mlops_pipelines.spec import RetrainingSpec

KEYS = [f"p{i:02d}" for i in range(30)]
POSITIONS = {k: i for i, k in enumerate(KEYS)}
POLICY = RetrainingSpec(cooldown_partitions=4, performance_consecutive=2, follow_up_partitions=0)
DELAY = 1


def observations(newest: int, degraded: range) -> list[MonitoringObservation]:
    """A backlog up to `newest`: labels in for every partition but the newest; realized
    performance degraded on `degraded`, fine elsewhere; no drift."""
    return [
        MonitoringObservation(
            KEYS[i],
            "ok",
            0.0,
            False,
            event_id=i,
            realized_degraded=None if i > newest - DELAY else i in degraded,
        )
        for i in range(newest + 1)
    ]


def as_of(obs: list[MonitoringObservation], history: list[RetrainRecord], newest: int) -> str:
    decision = should_retrain(obs, history, POLICY, KEYS)
    assert decision.retrain, decision.reason
    return timely_as_of(decision, obs, history, POLICY, KEYS, DELAY, KEYS[newest])


LIVE_AT_5 = [RetrainRecord(KEYS[5], "retrain:p05:1", True, KEYS[5], True, True)]


def test_a_streak_held_back_by_the_cooldown_trains_to_where_a_timely_sensor_acted() -> None:
    # Degraded p08..p11, all read at once at p12. A timely sensor knew p08 and p09 at p10's close,
    # the first partition past the cooldown (p05 + 4), and retrained there; the backlog's
    # decision also holds p10's labels, and "trigger + delay" would have said p11.
    backlog = observations(12, range(8, 12))
    decision = should_retrain(backlog, LIVE_AT_5, POLICY, KEYS)
    assert decision.trigger_partition == "p10" and decision.signals == ("realized",)
    assert as_of(backlog, LIVE_AT_5, 12) == "p10"


def test_a_streak_nothing_held_back_waits_for_its_labels() -> None:
    # The twin: no cooldown in the way. The streak completes at p09, whose labels arrive at p10.
    backlog = observations(12, range(8, 12))
    decision = should_retrain(backlog, [], POLICY, KEYS)
    assert decision.trigger_partition == "p09"
    assert as_of(backlog, [], 12) == "p10"


def test_drift_is_known_when_its_partition_closes() -> None:
    # No performance verdict against it (labels of too few rows): the drift streak triggers.
    backlog = [MonitoringObservation(KEYS[i], "warn" if i >= 3 else "ok", 0.5, False, i) for i in range(13)]
    assert as_of(backlog, [], 12) == "p04"


def test_never_past_the_newest_partition() -> None:
    # A timely sensor at p09 would not yet have p09's labels; the as-of stays at the newest.
    obs = [MonitoringObservation(KEYS[i], "ok", 0.0, False, i, realized_degraded=i >= 8) for i in range(10)]
    assert as_of(obs, [], 9) == "p09"


def test_a_retry_trains_to_the_as_of_of_the_attempt_it_repeats() -> None:
    # The realized streak p14..p15 fired at p16 (labels of p15 in), as of p16; that run failed.
    failed = [RetrainRecord(KEYS[14], "retrain:p14:1", False, KEYS[16])]
    obs = observations(20, range(14, 21))
    decision = should_retrain(obs, failed, POLICY, KEYS)
    assert decision.retrain and decision.signals == ("retry",) and decision.run_key == "retrain:p14:2"
    assert timely_as_of(decision, obs, failed, POLICY, KEYS, DELAY, KEYS[20]) == "p16"
    # Its twin: an attempt that recorded no as-of leaves the trigger; never past the newest.
    unknown = [RetrainRecord(KEYS[14], "retrain:p14:1", False)]
    decision = should_retrain(obs, unknown, POLICY, KEYS)
    assert timely_as_of(decision, obs, unknown, POLICY, KEYS, DELAY, KEYS[20]) == "p14"
    retry = should_retrain(obs, failed, POLICY, KEYS)
    assert timely_as_of(retry, obs, failed, POLICY, KEYS, DELAY, KEYS[15]) == "p15"


def test_what_a_sensor_knew_at_a_partition() -> None:
    obs = [MonitoringObservation(KEYS[i], "warn", 0.5, True, i, realized_degraded=True) for i in range(6)]
    known = known_at(obs, 3, DELAY, POSITIONS)
    assert [o.partition for o in known] == ["p00", "p01", "p02", "p03"]
    assert [o.realized_degraded for o in known] == [True, True, True, None]
    assert [o.kpi_breach for o in known] == [True, True, True, False]
    assert all(o.status == "warn" for o in known)  # drift is known as its partition closes
