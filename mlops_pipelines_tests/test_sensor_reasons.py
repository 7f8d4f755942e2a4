"""The sensor's skip reason, case by case: the state, then what would make it act, in one line."""

from __future__ import annotations

import pytest

from mlops_pipelines.lib.monitoring.policy_records import (
    MonitoringObservation,
    RetrainDecision,
    RetrainRecord,
)
from mlops_pipelines.sensor_reasons import degraded_streak, drift_streak, resume_partition, skip_reason
from mlops_pipelines.spec import RetrainingSpec

KEYS = [f"2011-03-{d:02d}" for d in range(1, 31)]
POLICY = RetrainingSpec(
    consecutive_drift=3, performance_consecutive=2, cooldown_partitions=4, max_retrains=2, per_partitions=10
)


def obs(day: int, status: str = "ok", realized: bool | None = None) -> MonitoringObservation:
    return MonitoringObservation(KEYS[day], status, None, False, day, realized_degraded=realized)


def done(day: int, succeeded: bool | None = True, promoted: bool | None = None) -> RetrainRecord:
    return RetrainRecord(KEYS[day], f"retrain:{KEYS[day]}:1", succeeded, KEYS[day], None, promoted)


def reason(decision: str, observations: list[MonitoringObservation], history: list[RetrainRecord]) -> str:
    text = skip_reason(RetrainDecision(False, decision), observations, history, KEYS, POLICY, "p__daily", 3)
    assert len(text) <= 200 and "\n" not in text, text
    return text


def test_streaks_count_back_from_the_newest_partition() -> None:
    assert drift_streak([obs(0, "warn"), obs(1, "ok"), obs(2, "warn"), obs(3, "error")]) == 2
    assert drift_streak([obs(0, "warn"), obs(1, "insufficient_data")]) == 0
    # Labels not in yet (None) neither extend nor end a degraded streak.
    assert (
        degraded_streak([obs(0, realized=False), obs(1, realized=True), obs(2), obs(3, realized=True)]) == 2
    )
    assert degraded_streak([obs(0, realized=True), obs(1, realized=False)]) == 0


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], None),  # no retrain yet: nothing holds a trigger back
        ([done(5)], KEYS[10]),  # cooldown 4 after the as-of at day 5
        ([done(5, False)], None),  # a failed retrain starts no cooldown
        ([done(5, promoted=False)], KEYS[6]),  # nor does one the gate turned down
        ([done(1), done(3, promoted=False)], KEYS[11]),  # cooldown from day 1 (to 6); the cap counts both
        ([done(2), done(8)], KEYS[13]),  # cap 2 per 10: day 2 leaves the window at day 12; cooldown to 13
        ([done(1), done(3)], KEYS[11]),  # cap: the window drops day 1 at day 11, after the cooldown (8)
        ([done(27)], None),  # past the known partitions
    ],
)
def test_the_partition_the_sensor_may_act_from(history: list[RetrainRecord], expected: str | None) -> None:
    assert resume_partition(history, KEYS, POLICY) == expected


def test_a_running_retrain_says_the_sensor_acts_when_it_ends() -> None:
    text = reason("retrain ['x'] still running", [obs(0)], [done(2), done(5, None)])
    assert text == f"retrain retrain:{KEYS[5]}:1 is running; acts again when it ends (3 new)"


def test_no_results_yet_names_the_job_that_produces_them() -> None:
    text = reason("no monitoring observations of the current champion yet", [], [])
    assert (
        text
        == "no monitoring results for the current champion yet; acts once p__daily monitors a partition (3 new)"
    )


def test_no_trigger_gives_the_streaks_and_the_conditions() -> None:
    text = reason("no trigger: ...", [obs(0, "warn"), obs(1, "warn", realized=True)], [])
    assert text == (
        f"no trigger up to {KEYS[1]}: drift 2/3 in a row, degraded labels 1/2; "
        "acts at 3 drifted or 2 degraded partitions in a row, or a KPI breach (3 new)"
    )


def test_a_trigger_held_back_says_from_when_it_counts() -> None:
    cause = f"drift on 3 partitions ({KEYS[6]}..{KEYS[8]}) inside the 4-partition cooldown"
    text = reason(cause, [obs(6, "warn"), obs(7, "warn"), obs(8, "warn")], [done(5)])
    assert text == f"{cause}; acts from {KEYS[10]} if it persists (3 new)"
    beyond = reason(cause, [obs(28, "warn")], [done(27)])
    assert beyond.endswith("; acts when new partitions arrive (3 new)")
