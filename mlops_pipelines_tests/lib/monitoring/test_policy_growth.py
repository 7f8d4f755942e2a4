"""The growth rule: a feed that now holds several times the rows per partition the champion
trained on (Lending Club's loans grew 8x in seven years) retrains though nothing drifted."""

from __future__ import annotations

import pytest

from mlops_pipelines.lib.monitoring.policy import MonitoringObservation, RetrainRecord, should_retrain
from mlops_pipelines.spec import RetrainingSpec

KEYS = [f"p{i:02d}" for i in range(40)]


def grown(factors: list[float | None]) -> list[MonitoringObservation]:
    """Quiet partitions (no drift, performance fine) whose rows per partition grew by `factors`."""
    return [
        MonitoringObservation(KEYS[i], "ok", 0.0, False, i, False, False, "3", g)
        for i, g in enumerate(factors)
    ]


def decide(factors: list[float | None], **rules: float) -> tuple[bool, str | None, str]:
    spec = RetrainingSpec(performance_window_partitions=7, cooldown_partitions=0, **rules)  # type: ignore[arg-type]
    decision = should_retrain(grown(factors), [], spec, KEYS)
    return decision.retrain, decision.trigger_partition, decision.reason


def test_a_whole_window_of_grown_partitions_triggers_at_its_last() -> None:
    retrain, trigger, reason = decide([1.0] * 5 + [3.2] * 6 + [4.0] * 3)
    assert (retrain, trigger) == (True, "p11")  # the 7th grown partition in a row
    assert (
        reason
        == "data grew: 7 partitions (p05..p11) hold at least 3.2x the rows per partition the champion trained on"
    )


@pytest.mark.parametrize(
    ("factors", "why"),
    [
        ([2.9] * 14, "below the factor"),
        ([3.5] * 6 + [None] + [3.5] * 6, "an unknown growth breaks the streak"),
        ([3.5] * 6 + [1.0] + [3.5] * 6, "a quiet partition breaks the streak"),
    ],
)
def test_growth_short_of_a_window_or_the_factor_does_not(factors: list[float | None], why: str) -> None:
    retrain, _, reason = decide(factors)
    assert not retrain, why
    assert reason.startswith("no trigger")


def test_growth_is_off_at_0_and_the_setting_is_checked() -> None:
    assert not decide([10.0] * 14, growth_factor=0)[0]
    assert decide([2.0] * 14, growth_factor=1.5)[0]
    with pytest.raises(ValueError, match=r"growth_factor 1\.0 must be 0 \(off\) or above 1"):
        RetrainingSpec(growth_factor=1.0)


def test_a_growth_episode_that_retrained_does_not_retrain_again_until_rearmed() -> None:
    spec = RetrainingSpec(performance_window_partitions=7, cooldown_partitions=0, rearm_partitions=7)
    history = [RetrainRecord("p06", "retrain:p06:1", True, as_of="p06", improved=False, promoted=False)]
    # The gate kept the champion: the episode goes on, and fires again only 7 partitions later.
    early = should_retrain(grown([3.5] * 12), history, spec, KEYS)
    assert not early.retrain
    later = should_retrain(grown([3.5] * 14), history, spec, KEYS)
    assert (later.retrain, later.trigger_partition) == (True, "p13")
