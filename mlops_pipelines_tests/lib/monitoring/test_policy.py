"""The retraining policy, table-driven: partitions are p00, p01, ... in order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlops_pipelines.lib.monitoring.policy import (
    MAX_RETRIES,
    MonitoringObservation,
    RetrainRecord,
    run_key_for,
    should_retrain,
)
from mlops_pipelines.spec import RetrainingSpec

KEYS = [f"p{i:02d}" for i in range(60)]
STATUS = {"o": "ok", "w": "warn", "e": "error", "i": "insufficient_data", "x": "invalid"}


def observe(pattern: str, kpi: tuple[int, ...] = ()) -> list[MonitoringObservation]:
    """One observation per character: o ok, w warn, e error, i insufficient_data, x invalid.
    A no-verdict status carries no drift share (None), as the sensor passes it."""
    share = {"w": 0.5, "e": 0.5, "o": 0.0}
    return [
        MonitoringObservation(KEYS[i], STATUS[c], share.get(c), i in kpi, event_id=i)
        for i, c in enumerate(pattern.replace(" ", ""))
    ]


def record(partition: int, succeeded: bool | None, attempt: int = 1) -> RetrainRecord:
    return RetrainRecord(KEYS[partition], run_key_for(KEYS[partition], attempt), succeeded)


def policy(**overrides: int) -> RetrainingSpec:
    values = {"consecutive_drift": 2, "cooldown_partitions": 0, "max_retrains": 10, "per_partitions": 30}
    values.update(overrides)
    return RetrainingSpec(**values)


CASES = [
    # (id, pattern, kpi partitions, history, policy overrides, expected trigger index or None)
    ("burst of drift: first point where the streak reaches 2", "wwwwwwww", (), [], {}, 1),
    ("burst of drift, streak of 3", "owewwwee", (), [], {"consecutive_drift": 3}, 3),
    ("burst already retrained: one retrain per episode", "wwwwwwww", (), [(1, True)], {}, None),
    ("single drift partition is not enough", "owo", (), [], {}, None),
    ("ok ends the streak", "wowowo", (), [], {}, None),
    ("error counts as drift", "oee", (), [], {}, 2),
    ("second episode after ok retrains again", "ww o ww", (), [(1, True)], {}, 4),
    ("insufficient data never triggers", "iiiiiiii", (), [], {}, None),
    ("invalid never triggers", "xxxxxxxx", (), [], {}, None),
    ("insufficient data does not break the streak", "w i w", (), [], {}, 2),
    ("invalid does not break the streak", "w x x w", (), [], {}, 3),
    ("insufficient data does not count as drift", "w i i i", (), [], {}, None),
    ("insufficient data does not end an episode", "ww i ww", (), [(1, True)], {}, None),
    ("KPI breach alone triggers", "oooo", (2,), [], {}, 2),
    ("KPI breach during insufficient data triggers", "iii", (1,), [], {}, 1),
    ("no KPI breach, no drift", "oooo", (), [], {}, None),
    (
        "cooldown blocks the next episode until it expires",
        "ww o wwwww",
        (),
        [(1, True)],
        {"cooldown_partitions": 5},
        7,
    ),
    ("cooldown blocks a KPI breach inside it", "oooooo", (3,), [(1, True)], {"cooldown_partitions": 5}, None),
    ("KPI breach after the cooldown triggers", "ooooooooo", (7,), [(1, True)], {"cooldown_partitions": 5}, 7),
    (
        "a failed retrain, retries spent, starts the cooldown",
        "ww o ww",
        (),
        [(1, False)] * 3,
        {"cooldown_partitions": 50},
        None,
    ),
    (
        "the cooldown of a failed retrain expires",
        "ww o ww",
        (),
        [(1, False)] * 3,
        {"cooldown_partitions": 2},
        4,
    ),
    (
        "failed retrains make no model: not in the cap",
        "ww o ww",
        (),
        [(1, False)] * 3,
        {"max_retrains": 1},
        4,
    ),
    (
        "cap per window reached",
        "ww o ww o ww",
        (),
        [(1, True), (4, True)],
        {"max_retrains": 2, "per_partitions": 10},
        None,
    ),
    (
        "cap window slid past old retrains",
        "ww o ww o ww",
        (),
        [(1, True), (4, True)],
        {"max_retrains": 2, "per_partitions": 5},
        7,
    ),
    ("old drift before a newer retrain is not replayed", "ww oooo", (), [(5, True)], {}, None),
]


@pytest.mark.parametrize(
    ("pattern", "kpi", "history", "overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_trigger_table(
    pattern: str,
    kpi: tuple[int, ...],
    history: list[tuple[int, bool]],
    overrides: dict[str, int],
    expected: int | None,
) -> None:
    records = [record(p, ok, attempt=n + 1) for n, (p, ok) in enumerate(history)]
    decision = should_retrain(observe(pattern, kpi), records, policy(**overrides), KEYS)
    if expected is None:
        assert not decision.retrain, decision
        assert decision.run_key is None
    else:
        assert decision.retrain, decision.reason
        assert decision.trigger_partition == KEYS[expected]
        assert decision.run_key == f"retrain:{KEYS[expected]}:1"
    assert decision.reason


@pytest.mark.parametrize(
    ("promoted", "expected"),
    [(False, 4), (True, None), (None, None)],
    ids=["turned down: no cooldown", "went live: cooldown", "outcome unknown: cooldown"],
)
def test_the_cooldown_counts_from_the_newest_retrain_that_went_live(
    promoted: bool | None, expected: int | None
) -> None:
    # A challenger the gate turned down left the champion it was judged against: a new episode
    # against that champion need not wait out a cooldown meant for observing a new model.
    rejected = RetrainRecord(KEYS[1], run_key_for(KEYS[1], 1), True, KEYS[1], False, promoted)
    decision = should_retrain(observe("ww o ww"), [rejected], policy(cooldown_partitions=50), KEYS)
    if expected is None:
        assert not decision.retrain and "inside the 50-partition cooldown" in decision.reason
    else:
        assert decision.retrain and decision.trigger_partition == KEYS[expected], decision.reason


def test_a_failed_attempt_whose_retry_succeeded_starts_no_cooldown() -> None:
    # Attempt 1 of the p01 trigger failed, attempt 2 ran and the gate turned it down: the champion
    # it was judged against is open to fresh evidence at once, as after any turned-down retrain.
    failed = RetrainRecord(KEYS[1], run_key_for(KEYS[1], 1), False, KEYS[1])
    rejected = RetrainRecord(KEYS[1], run_key_for(KEYS[1], 2), True, KEYS[2], False, False)
    decision = should_retrain(observe("ww o ww"), [failed, rejected], policy(cooldown_partitions=50), KEYS)
    assert decision.retrain and decision.trigger_partition == KEYS[4], decision.reason
    # Twin: with its retries spent (every attempt failed) the cooldown holds the next trigger.
    spent = [RetrainRecord(KEYS[1], run_key_for(KEYS[1], n), False, KEYS[1]) for n in (1, 2, 3)]
    held = should_retrain(observe("ww o ww"), spent, policy(cooldown_partitions=50), KEYS)
    assert not held.retrain and "inside the 50-partition cooldown" in held.reason


def test_the_cap_counts_a_retrain_whose_as_of_is_past_the_trigger() -> None:
    # The trigger lags behind a retrain decided later (its as-of p06): that retrain is recent.
    rejected = RetrainRecord(KEYS[1], run_key_for(KEYS[1], 1), True, KEYS[6], False, False)
    capped = should_retrain(observe("ww o ww"), [rejected], policy(max_retrains=1), KEYS)
    assert not capped.retrain and "cap of 1 retrains per 30 partitions" in capped.reason
    # Twin: with room under the cap the same trigger fires.
    free = should_retrain(observe("ww o ww"), [rejected], policy(max_retrains=2), KEYS)
    assert free.retrain and free.trigger_partition == KEYS[4], free.reason


def test_the_cap_counts_retrains_the_gate_turned_down() -> None:
    rejected = RetrainRecord(KEYS[1], run_key_for(KEYS[1], 1), True, KEYS[1], False, False)
    decision = should_retrain(
        observe("ww o ww"),
        [rejected],
        policy(cooldown_partitions=50, max_retrains=1, per_partitions=30),
        KEYS,
    )
    assert not decision.retrain and "cap of 1 retrains per 30 partitions" in decision.reason


def test_burst_triggering_events_are_the_streak() -> None:
    decision = should_retrain(observe("o w i w w w"), [], policy(consecutive_drift=2), KEYS)
    assert decision.trigger_partition == "p03"
    assert decision.triggering_events == (1, 3)


@pytest.mark.parametrize("pattern", ["o w i w w w", "ww x ww", "o i i i", "x x x x"])
def test_the_decision_reads_statuses_never_the_drift_share(pattern: str) -> None:
    """Rules unchanged by the type: the same decision whether a share is None, 0.0 or 1.0."""
    observations = observe(pattern)
    decisions = {
        str(should_retrain([replace(o, drift_share=share) for o in observations], [], policy(), KEYS))
        for share in (None, 0.0, 1.0)
    }
    assert len(decisions) == 1 and next(iter(decisions))


def test_run_key_is_stable_as_later_results_arrive() -> None:
    early = should_retrain(observe("oww"), [], policy(), KEYS)
    late = should_retrain(observe("owwwwwwe"), [], policy(), KEYS)
    assert early.run_key == late.run_key == "retrain:p02:1"


def test_exactly_one_retrain_per_episode_over_successive_ticks() -> None:
    """Replay a sensor: each tick sees one more partition and the runs it started so far."""
    pattern = "oowwwwwwoooweeeeoo"
    history: list[RetrainRecord] = []
    for tick in range(1, len(pattern) + 1):
        decision = should_retrain(observe(pattern[:tick]), history, policy(), KEYS)
        if decision.retrain:
            assert decision.run_key is not None and decision.trigger_partition is not None
            history.append(RetrainRecord(decision.trigger_partition, decision.run_key, True))
    assert [r.run_key for r in history] == ["retrain:p03:1", "retrain:p12:1"]


def test_running_retrain_blocks_new_ones() -> None:
    decision = should_retrain(observe("ww o ww"), [record(1, None)], policy(), KEYS)
    assert not decision.retrain
    assert "still running" in decision.reason


def test_failed_retrain_is_retried_with_a_new_key_then_given_up() -> None:
    observations = observe("wwww")
    history = [record(1, False)]
    keys = []
    for _ in range(MAX_RETRIES):
        decision = should_retrain(observations, history, policy(), KEYS)
        assert decision.retrain and decision.trigger_partition == "p01"
        assert decision.run_key is not None
        keys.append(decision.run_key)
        history.append(RetrainRecord("p01", decision.run_key, False))
    assert keys == ["retrain:p01:2", "retrain:p01:3"]
    exhausted = should_retrain(observations, history, policy(), KEYS)
    assert not exhausted.retrain


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [([3, 1, 2], None), ([2, 1], "retrain:p01:3"), ([1], "retrain:p01:2")],
    ids=["all three failed, listed out of order", "two failed, newest first", "one failed"],
)
def test_retry_reads_attempts_from_run_keys_not_list_order(attempts: list[int], expected: str | None) -> None:
    history = [record(1, False, attempt=n) for n in attempts]
    decision = should_retrain(observe("wwww"), history, policy(), KEYS)
    assert decision.run_key == expected


def test_successful_retry_after_failures_listed_out_of_order() -> None:
    history = [record(1, True, attempt=2), record(1, False, attempt=1)]
    assert not should_retrain(observe("wwww"), history, policy(), KEYS).retrain


def test_successful_retry_ends_the_episode() -> None:
    history = [record(1, False, attempt=1), record(1, True, attempt=2)]
    assert not should_retrain(observe("wwwwww"), history, policy(), KEYS).retrain


def test_rerun_partition_latest_event_wins() -> None:
    observations = [*observe("ww"), MonitoringObservation("p01", "ok", 0.0, False, event_id=99)]
    assert not should_retrain(observations, [], policy(), KEYS).retrain
    assert should_retrain(observe("ww"), [], policy(), KEYS).retrain


def test_callable_partition_index_and_unordered_input() -> None:
    observations = list(reversed(observe("ooww")))
    decision = should_retrain(observations, [], policy(), lambda key: int(key[1:]))
    assert decision.trigger_partition == "p03"


def test_unknown_partition_is_named() -> None:
    bad = MonitoringObservation("2099-01-01", "warn", 0.5, False, event_id=1)
    with pytest.raises(ValueError, match="2099-01-01"):
        should_retrain([bad], [], policy(), KEYS)


def test_unknown_status_is_named() -> None:
    bad = MonitoringObservation("p00", "drifting", 0.5, False, event_id="e7")
    with pytest.raises(ValueError, match="drifting"):
        should_retrain([bad], [], policy(), KEYS)


def test_no_observations_no_retrain() -> None:
    decision = should_retrain([], [], policy(), KEYS)
    assert not decision.retrain
    assert "no monitoring observations" in decision.reason
