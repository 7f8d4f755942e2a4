"""The pure folds behind the exporter's metrics: tallies across scrapes, the newest drift
partitions, what a champion or validated materialization counts as."""

from __future__ import annotations

from mlops_pipelines import names
from mlops_pipelines.observability.state import (
    ROLLBACK,
    PartitionDrift,
    Tally,
    decision_key,
    newest_drift,
    quarantined_in_run,
)


def test_a_tally_adds_new_events_and_remembers_where_it_stopped() -> None:
    tally = Tally().fold([(3, "promote", 1), (5, "reject", 1), (8, None, 1), (9, "promote", 1)])
    assert tally.after == 9 and dict(tally.counts) == {"promote": 2, "reject": 1}
    assert tally.fold([(12, "promote", 1)]).count("promote") == 3


def test_a_tally_never_counts_an_event_twice() -> None:
    tally = Tally().fold([(3, "promote", 1), (5, "reject", 1)])
    again = tally.fold([(3, "promote", 1), (5, "reject", 1), (4, "promote", 1)])  # a page read again
    assert again == tally


def test_newest_drift_keeps_each_partitions_newest_verdict_for_the_newest_partitions() -> None:
    observations = [
        (
            1,
            "2011-01-01",
            {names.META_STATUS: "error", names.META_DRIFT_SHARE: 0.9, names.META_DRIFT_LEVEL: 2},
        ),
        (2, "2011-01-02", {names.META_STATUS: "ok", names.META_DRIFT_SHARE: 0.0, names.META_DRIFT_LEVEL: 0}),
        (
            7,
            "2011-01-01",
            {names.META_STATUS: "warn", names.META_DRIFT_SHARE: 0.4, names.META_DRIFT_LEVEL: 1},
        ),
        (4, "2011-01-03", {names.META_STATUS: "insufficient_data", names.META_DRIFT_SHARE: None}),
        (5, None, {names.META_STATUS: "error"}),  # unpartitioned: no place among partitions
    ]
    assert newest_drift(observations, keep=2) == (
        PartitionDrift("2011-01-03", "insufficient_data", None, 0),
        PartitionDrift("2011-01-02", "ok", 0.0, 0),
    )
    assert newest_drift(observations, keep=5)[-1] == PartitionDrift("2011-01-01", "warn", 0.4, 1)


def test_newest_drift_shows_no_share_for_a_missing_or_nan_one() -> None:
    observations = [
        (1, "2011-01-01", {names.META_STATUS: "invalid", names.META_DRIFT_SHARE: float("nan")}),
        (2, "2011-01-02", {}),
    ]
    assert newest_drift(observations) == (
        PartitionDrift("2011-01-02", "invalid", None, 2),
        PartitionDrift("2011-01-01", "invalid", None, 2),
    )


def test_a_champion_materialization_counts_as_its_verdict_or_a_rollback() -> None:
    assert decision_key({names.META_ACTION: "gate", names.META_VERDICT: "promote"}) == "promote"
    assert decision_key({names.META_ACTION: "gate", names.META_VERDICT: "reject"}) == "reject"
    assert decision_key({names.META_ACTION: ROLLBACK, names.META_VERDICT: None}) == ROLLBACK


def test_a_gate_without_a_challenger_counts_as_nothing() -> None:
    assert decision_key({names.META_ACTION: "gate"}) is None


def test_quarantined_rows_count_once_per_range_run() -> None:
    totals = {names.META_ROWS_QUARANTINED: 12, names.META_LAST_PARTITION: "2011-01-24"}
    copies = [quarantined_in_run(p, totals) for p in ("2011-01-22", "2011-01-23", "2011-01-24")]
    assert copies == [0, 0, 12]
    assert quarantined_in_run("2011-01-24", {names.META_LAST_PARTITION: "2011-01-24"}) == 0
