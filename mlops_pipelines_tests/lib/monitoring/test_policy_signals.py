"""The policy's performance signals: realized degradation, drift the performance contradicts, and
observations judged per champion. Partitions are p00, p01, ... in order."""

from __future__ import annotations

from mlops_pipelines.lib.monitoring.policy import MonitoringObservation, RetrainRecord, should_retrain
from mlops_pipelines.spec import RetrainingSpec

KEYS = [f"p{i:02d}" for i in range(40)]
STATUS = {"o": "ok", "w": "warn", "i": "insufficient_data"}
VERDICT = {"+": True, "-": False, ".": None}


def observe(
    drift: str, estimated: str = "", realized: str = "", champion: str | None = None
) -> list[MonitoringObservation]:
    """drift: o ok, w warn, i insufficient; estimated/realized: + degraded, - fine, . no verdict."""
    out = []
    for i, status in enumerate(drift):
        est = VERDICT[estimated[i]] if i < len(estimated) else None
        real = VERDICT[realized[i]] if i < len(realized) else None
        out.append(MonitoringObservation(KEYS[i], STATUS[status], None, False, i, est, real, champion))
    return out


def policy(**overrides: object) -> RetrainingSpec:
    values: dict[str, object] = {
        "consecutive_drift": 2,
        "cooldown_partitions": 0,
        "max_retrains": 10,
        "per_partitions": 30,
        "performance_consecutive": 2,
    }
    values.update(overrides)
    return RetrainingSpec(**values)  # type: ignore[arg-type]


def test_realized_degradation_on_consecutive_partitions_triggers() -> None:
    decision = should_retrain(observe("oooooo", realized="..-++."), [], policy(), KEYS)
    assert decision.retrain and decision.trigger_partition == "p04"
    assert decision.signals == ("realized",)
    assert "realized performance worse than expected on 2 labelled partitions (p03..p04)" in decision.reason


def test_one_degraded_partition_is_not_enough_and_a_fine_one_resets() -> None:
    assert not should_retrain(observe("oooooo", realized="+-+-+-"), [], policy(), KEYS).retrain
    assert not should_retrain(observe("oooo", realized="...+"), [], policy(), KEYS).retrain


def test_drift_contradicted_by_performance_is_only_a_warning() -> None:
    decision = should_retrain(observe("owww", estimated="----"), [], policy(), KEYS)
    assert not decision.retrain
    assert decision.warnings == ("drift on p01..p03 not confirmed by performance: warning only",)


def test_drift_with_an_estimated_degradation_triggers() -> None:
    decision = should_retrain(observe("owww", estimated="--+-"), [], policy(), KEYS)
    assert decision.retrain and decision.trigger_partition == "p02"
    assert decision.signals == ("drift",) and "with performance degraded" in decision.reason


def test_drift_with_no_performance_verdict_triggers_unless_performance_is_required() -> None:
    uninformed = observe("oww")
    decision = should_retrain(uninformed, [], policy(), KEYS)
    assert decision.retrain and "no performance verdict against it" in decision.reason
    strict = should_retrain(uninformed, [], policy(drift_requires_performance=True), KEYS)
    assert not strict.retrain and strict.warnings


def test_a_partly_judged_streak_is_not_contradicted() -> None:
    # p02 has no verdict: the performance signals do not cover the whole streak.
    assert should_retrain(observe("oww", estimated="--."), [], policy(), KEYS).retrain


def test_only_the_current_champions_observations_are_judged() -> None:
    old = observe("owww", champion="1")
    new = [
        MonitoringObservation(KEYS[i], "ok" if i == 4 else "warn", None, False, i, None, None, "2")
        for i in range(4, 6)
    ]
    # v1's streak (p01..p03) triggered before; v2 has only one drifted partition so far.
    history = [RetrainRecord("p02", "retrain:p02:1", True, as_of="p03")]
    decision = should_retrain([*old, *new], history, policy(), KEYS)
    assert not decision.retrain


def test_a_new_champion_starts_a_new_episode_and_cooldown_counts_from_the_as_of() -> None:
    history = [RetrainRecord("p02", "retrain:p02:1", True, as_of="p05")]
    observations = [*observe("owww", champion="1"), *observe("oooooowwww", champion="2")[6:]]
    blocked = should_retrain(observations, history, policy(cooldown_partitions=4), KEYS)
    assert not blocked.retrain and "inside the 4-partition cooldown" in blocked.reason
    decision = should_retrain(observations, history, policy(cooldown_partitions=2), KEYS)
    assert decision.retrain and decision.trigger_partition == "p08"


def test_a_rejected_challenger_keeps_the_episode_handled() -> None:
    """The same champion after a retrain (the gate said no): its episode does not fire twice."""
    history = [RetrainRecord("p02", "retrain:p02:1", True, as_of="p02")]
    assert not should_retrain(observe("owwwwww", champion="1"), history, policy(), KEYS).retrain


def _retrain(as_of: str, improved: bool | None, key: str = "") -> RetrainRecord:
    return RetrainRecord(as_of, key or f"run-{as_of}", True, as_of, improved)


def test_a_retrain_that_paid_off_is_followed_up() -> None:
    calm = observe("o" * 20, estimated="-" * 20)
    decision = should_retrain(calm, [_retrain("p05", True)], policy(follow_up_partitions=7), KEYS)
    assert decision.retrain and decision.trigger_partition == "p12"
    assert decision.signals == ("follow-up",)
    assert "follow-up 7 partitions after the retrain as of 'p05'" in decision.reason


def test_follow_ups_back_off_after_misses_and_stop() -> None:
    calm = observe("o" * 40, estimated="-" * 40)
    one_miss = [_retrain("p02", True), _retrain("p09", False)]
    decision = should_retrain(calm, one_miss, policy(follow_up_partitions=7, follow_up_misses=2), KEYS)
    assert decision.trigger_partition == "p23"  # 7 x 2 after the miss
    misses = [_retrain("p02", True), _retrain("p09", False), _retrain("p23", False), _retrain("p30", False)]
    stopped = should_retrain(calm, misses, policy(follow_up_partitions=7, follow_up_misses=2), KEYS)
    assert not stopped.retrain


def test_no_chain_without_a_verdict_or_when_turned_off() -> None:
    calm = observe("o" * 20, estimated="-" * 20)
    assert not should_retrain(calm, [_retrain("p05", None)], policy(follow_up_partitions=7), KEYS).retrain
    assert not should_retrain(calm, [_retrain("p05", True)], policy(follow_up_partitions=0), KEYS).retrain


def test_estimated_degradation_over_a_whole_window_triggers_before_labels() -> None:
    decision = should_retrain(observe("o" * 12, estimated="--+++++++..."), [], policy(), KEYS)
    assert decision.retrain and decision.trigger_partition == "p08"  # a whole 7-partition window
    assert decision.signals == ("estimated",)
    assert "estimated performance below the champion's evaluated level on 7 partitions (p02..p08)" in (
        decision.reason
    )
    shorter = policy(performance_window_partitions=3)
    assert should_retrain(observe("o" * 12, estimated="--+++"), [], shorter, KEYS).trigger_partition == "p04"


def test_an_isolated_estimated_dip_is_not_enough() -> None:
    assert not should_retrain(observe("oooooo", estimated="+-+-+-"), [], policy(), KEYS).retrain
    # Overlapping windows of a harder row mix, interrupted: no whole window in a row.
    assert not should_retrain(observe("o" * 12, estimated="-++++++-++++"), [], policy(), KEYS).retrain


def test_an_unjudged_retrain_is_no_miss_and_waits_for_more_rows() -> None:
    calm = observe("o" * 30, estimated="-" * 30)
    # The first model (no verdict), promoted at p05 (paid off), then too few new rows at p09
    # (no verdict): the chain goes on, no miss counted.
    history = [_retrain("p02", None), _retrain("p05", True), _retrain("p09", None)]
    decision = should_retrain(calm, history, policy(follow_up_partitions=4), KEYS)
    # The unjudged one shows 4 partitions hold too few rows: the spacing doubles to 8, past it.
    assert decision.retrain and decision.trigger_partition == "p17"
    again = [*history, _retrain("p17", True)]
    assert should_retrain(calm, again, policy(follow_up_partitions=4), KEYS).trigger_partition == "p25"
    # Only unjudged retrains (the first model and no verdict since): no chain at all.
    assert not should_retrain(calm, [_retrain("p02", None), _retrain("p09", None)], policy(), KEYS).retrain


def test_the_spacing_grows_by_the_rows_the_gate_lacked() -> None:
    """45 rows a week, 200 needed: a 7-partition follow-up compared 180 (90 %), so 8 partitions
    hold enough; doubling to 14 halved the follow-ups of a stream whose every retrain paid off."""
    calm = observe("o" * 40, estimated="-" * 40)
    base = [_retrain("p02", None), _retrain("p05", True)]
    short = RetrainRecord("p12", "run-p12", True, "p12", None, False, evidence_share=0.9)
    decision = should_retrain(calm, [*base, short], policy(follow_up_partitions=7), KEYS)
    assert decision.retrain and decision.trigger_partition == "p20"  # 8 past the unjudged one
    assert (
        should_retrain(
            calm, [*base, short, _retrain("p20", True)], policy(follow_up_partitions=7), KEYS
        ).trigger_partition
        == "p28"
    )
    # Far short (a quarter of the rows) or no rows at all: at most doubled, as before.
    for share in (0.25, 0.0, None):
        far = RetrainRecord("p12", "run-p12", True, "p12", None, False, evidence_share=share)
        assert (
            should_retrain(calm, [*base, far], policy(follow_up_partitions=7), KEYS).trigger_partition
            == "p26"
        )
    # Nearly enough still waits one partition more, never the same spacing again.
    close = RetrainRecord("p12", "run-p12", True, "p12", None, False, evidence_share=0.99)
    assert (
        should_retrain(calm, [*base, close], policy(follow_up_partitions=7), KEYS).trigger_partition == "p20"
    )


def _won(as_of: str, gain: float) -> RetrainRecord:
    return RetrainRecord(as_of, f"run-{as_of}", True, as_of, True, True, gain=gain)


def test_a_retrain_that_gained_a_lot_is_followed_up_sooner() -> None:
    """A gain of twice `performance_margin` (5 %) on the champion's score: the champion was far
    behind and the new window holds little of the new data yet (a sudden change), so the next
    follow-up comes after half the spacing, 4 partitions, not 7."""
    calm = observe("o" * 40, estimated="-" * 40)
    base = [_retrain("p02", None)]
    far = should_retrain(calm, [*base, _won("p05", 0.15)], policy(follow_up_partitions=7), KEYS)
    assert far.retrain and far.trigger_partition == "p09"
    assert "follow-up 4 partitions after the retrain as of 'p05'" in far.reason
    # The failure twin: a gain under twice the margin keeps the spacing.
    near = should_retrain(calm, [*base, _won("p05", 0.09)], policy(follow_up_partitions=7), KEYS)
    assert near.trigger_partition == "p12"
    # Never below the cap's cadence (here 32 / 4: every 8 partitions), never above the spacing.
    capped = policy(follow_up_partitions=7, max_retrains=4, per_partitions=32)
    assert should_retrain(calm, [*base, _won("p05", 0.5)], capped, KEYS).trigger_partition == "p12"
    short = policy(follow_up_partitions=2, max_retrains=4, per_partitions=32)
    assert should_retrain(calm, [*base, _won("p05", 0.5)], short, KEYS).trigger_partition == "p07"
    # Where the gate lacked rows the spacing grew, and a large gain does not shrink it again.
    lacked = RetrainRecord("p09", "run-p09", True, "p09", None, False, evidence_share=0.9)
    grown = should_retrain(calm, [*base, _won("p05", 0.15), lacked], policy(follow_up_partitions=7), KEYS)
    assert grown.trigger_partition == "p17"  # 8 past the unjudged one


def test_an_episode_that_goes_on_after_a_rejection_triggers_again() -> None:
    """A sudden change shows in one or two labelled partitions of the gate's window at first: a
    challenger rejected then is judged again `rearm_partitions` later if the drift lasts."""
    history = [RetrainRecord("p02", "retrain:p02:1", True, as_of="p02", improved=False)]
    ongoing = observe("o" + "w" * 12, champion="1")
    decision = should_retrain(ongoing, history, policy(rearm_partitions=5), KEYS)
    assert decision.retrain and decision.trigger_partition == "p07"
    assert decision.signals == ("drift",) and "(p01..p07)" in decision.reason
    assert not should_retrain(ongoing, history, policy(rearm_partitions=0), KEYS).retrain
    # The episode ended (an 'ok' partition) before the re-arm: nothing to judge again.
    ended = observe("owwwoooooooo", champion="1")
    assert not should_retrain(ended, history, policy(rearm_partitions=5), KEYS).retrain


def test_the_evidence_share_is_the_rows_had_over_the_rows_needed() -> None:
    from mlops_pipelines.lib.monitoring.policy_records import evidence_share

    assert evidence_share(150, 200) == 0.75
    assert evidence_share(300, 200) == 1.0  # never more than enough
    assert evidence_share(None, 200) == 0.0 and evidence_share(0, 200) == 0.0  # no rows: doubled spacing
    assert evidence_share(5, 0) == 1.0  # nothing needed
