"""Each partition's own truth in a range run: one run over four partitions records, for every
partition, its own drift and performance numbers on its own materialization (what the Dagster
UI's Partitions and Plots tabs show) and its own check evaluation (pass, warn or fail per
partition), read back from the instance the way the UI reads them.

Real bike_sharing data, real runs. The drift settings make four January 2011 days differ:
with the first 14 days as the reference, one-day windows and a fixed PSI bar of 4.0, the 18th
(12 rows, under min_rows 20) has no verdict, the 19th drifts on three of five columns (error),
the 20th on two (warn) and the 21st on none (ok).
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.sensor_cursor import SensorCursor
from mlops_pipelines.sensors import absorb
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.monitoring_job import LAST, observations, prepared, run, small

DRIFT = {
    "reference_partitions": 14,
    "current_window_partitions": 1,
    "min_rows": 20,
    "calibrate": False,
    "numeric_threshold": 4.0,
    "categorical_threshold": 0.25,
}
DAYS = ("2011-01-18", "2011-01-19", "2011-01-20", "2011-01-21")
# (status, drift share, drifted columns, the check's outcome: passed and severity)
EXPECTED = {
    "2011-01-18": ("insufficient_data", None, None, True),
    "2011-01-19": ("error", 0.6, "temp, atemp, hum", dg.AssetCheckSeverity.ERROR),
    "2011-01-20": ("warn", 0.4, "temp, atemp", dg.AssetCheckSeverity.WARN),
    "2011-01-21": ("ok", 0.0, None, True),
}
LABELLED = ("2011-01-25", "2011-01-26", "2011-01-27", "2011-01-28")  # after the champion's data


def stored(
    instance: dg.DagsterInstance, spec: ProjectSpec, asset: str, day: str
) -> tuple[int, dict[str, Any]]:
    """The newest materialization of one partition in the instance: its storage id and metadata."""
    key = dg.AssetKey([spec.name, asset])
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    materialization = record.event_log_entry.asset_materialization
    assert materialization is not None
    return record.storage_id, {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def evaluations(instance: dg.DagsterInstance, spec: ProjectSpec, asset: str, check: str) -> dict[str, Any]:
    """The newest evaluation of a check per partition, as the instance stores it."""
    key = dg.AssetCheckKey(dg.AssetKey([spec.name, asset]), check)
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    latest: dict[str, Any] = {}
    for record in history:  # newest first
        evaluation = record.evaluation
        if evaluation is not None and evaluation.partition is not None:
            latest.setdefault(evaluation.partition, evaluation)
    return latest


def current(
    instance: dg.DagsterInstance, spec: ProjectSpec, asset: str, check: str
) -> dict[str | None, bool]:
    """Per partition: does the check's latest result judge the partition's latest materialization
    (what the UI needs to show it, rather than a cleared status)?"""
    key = dg.AssetCheckKey(dg.AssetKey([spec.name, asset]), check)
    return {
        i.partition_key: i.is_current
        for i in instance.event_log_storage.get_asset_check_partition_info([key])
    }


def test_a_drift_range_records_each_partitions_own_numbers_and_check(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"], **DRIFT)
    prepared(spec, instance, champion=False)
    assert run(spec, names.DAILY_JOB, instance, DAYS[0], DAYS[-1]).success
    seen = observations(instance, spec, names.DRIFT)  # what the retraining sensor reads
    checked = evaluations(instance, spec, names.DRIFT, names.DRIFT_CHECK)
    assert sorted(seen) == sorted(checked) == list(DAYS)
    for day, (status, share, drifted, outcome) in EXPECTED.items():
        storage_id, numbers = stored(instance, spec, names.DRIFT, day)
        assert numbers[names.META_STATUS] == status and numbers[names.META_DRIFT_SHARE] == share, day
        assert numbers[names.META_DRIFTED_COLUMNS] == drifted
        assert numbers[names.META_DRIFT_LEVEL] == {"error": 2, "warn": 1}.get(status, 0)
        # Every number the partition's observation holds, its materialization holds too: the
        # per-column scores the Plots tab draws included (a partition without a verdict has none).
        assert {k: v for k, v in numbers.items() if k in seen[day]} == seen[day]
        scores = [k for k in numbers if k.startswith(names.META_SCORE_PREFIX)]
        assert len(scores) == (0 if share is None else 5)
        assert all(isinstance(numbers[k], float) for k in scores)
        evaluation = checked[day]
        assert evaluation.passed is (outcome is True), day
        if outcome is not True:
            assert evaluation.severity == outcome
        assert evaluation.description.startswith(status)
        assert evaluation.target_materialization_data.storage_id == storage_id
    # The run's one Evidently report sits on the partition it shows: the newest drifted one.
    reports = {day: stored(instance, spec, names.DRIFT, day)[1][names.META_REPORT] for day in DAYS}
    assert [day for day, link in reports.items() if link is not None] == ["2011-01-20"]
    assert current(instance, spec, names.DRIFT, names.DRIFT_CHECK) == dict.fromkeys(DAYS, True)
    # Raw data too: each partition counts its own rows (the 18th holds 12), not the range's total.
    raw = {day: stored(instance, spec, names.RAW, day)[1] for day in DAYS}
    for day, numbers in raw.items():
        rows = stored(instance, spec, names.DRIFT, day)[1][names.META_ROWS_CURRENT]
        assert numbers[names.META_ROWS_READ] == numbers[names.META_ROWS] == rows, day
        assert numbers[names.META_FIRST_PARTITION] == numbers[names.META_LAST_PARTITION] == day
    assert raw["2011-01-18"][names.META_ROWS] == 12 and raw["2011-01-21"][names.META_ROWS] == 24
    cursor, read, _ = absorb(SensorCursor(), spec, instance)
    assert read == 4 and [(r.status, r.drift_share) for r in cursor.results] == [
        e[:2] for e in EXPECTED.values()
    ]

    # The twin: a later one-partition run with a lax bar changes that partition alone.
    lax = small(specs["bike_sharing"], **{**DRIFT, "numeric_threshold": 100.0})
    assert run(lax, names.DAILY_JOB, instance, "2011-01-19").success
    assert stored(instance, spec, names.DRIFT, "2011-01-19")[1][names.META_STATUS] == "ok"
    again = evaluations(instance, spec, names.DRIFT, names.DRIFT_CHECK)
    assert again["2011-01-19"].passed and not again["2011-01-20"].passed
    assert stored(instance, spec, names.DRIFT, "2011-01-20")[1][names.META_DRIFT_SHARE] == 0.4
    assert current(instance, spec, names.DRIFT, names.DRIFT_CHECK) == dict.fromkeys(DAYS, True)


def test_a_labels_range_records_each_partitions_own_performance_and_kpi_check(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    small_days = small(specs["bike_sharing"], current_window_partitions=1)
    # One-day performance windows that count a breach from 5 rows: each day stands alone (the
    # default 30 rows reports these short days' breaches as explained: lib/monitoring/test_stage.py).
    retraining = {"performance_window_partitions": 1, "performance_min_rows": 5}
    spec = small_days.model_copy(update={"retraining": small_days.retraining.model_copy(update=retraining)})
    assert LABELLED[0] > LAST  # the champion never saw these days
    assert spec.kpis and spec.kpis[0].metric == "r2"  # bike_sharing holds r2 to a floor
    prepared(spec, instance, champion=True)
    assert run(spec, names.DAILY_JOB, instance, LABELLED[0], LABELLED[-1]).success
    assert run(spec, names.LABELS_JOB, instance, LABELLED[0], LABELLED[-1]).success
    seen = observations(instance, spec, names.PERFORMANCE)
    checked = evaluations(instance, spec, names.PERFORMANCE, names.KPI_CHECK)
    assert sorted(seen) == sorted(checked) == list(LABELLED)
    numbers = {day: stored(instance, spec, names.PERFORMANCE, day) for day in LABELLED}
    for day, (storage_id, own) in numbers.items():
        assert {k: v for k, v in own.items() if k in seen[day]} == seen[day], day
        assert own[names.META_STATUS] == "scored"
        assert own[names.META_REALIZED] == own[spec.training.primary_metric]
        assert isinstance(own["mae"], float) and isinstance(own[names.META_KPI_BREACH_COUNT], int)
        evaluation = checked[day]
        assert evaluation.passed is not own[names.META_KPI_BREACH]
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert evaluation.target_materialization_data.storage_id == storage_id
        scored = stored(instance, spec, names.PREDICTIONS, day)[1]  # one-day windows: the same rows
        assert scored[names.META_ROWS] == own[names.META_ROWS] and scored[names.META_MEAN_PREDICTION] > 0
    assert [numbers[day][1][names.META_ROWS] for day in LABELLED] == [23, 16, 8, 23]
    # The short days (16 and 8 rows) breach the r2 floor, the full ones do not: each partition
    # shows its own, where one Output's metadata would have shown the 28th's on all four.
    breached = [day for day, (_, own) in numbers.items() if own[names.META_KPI_BREACH]]
    assert breached == ["2011-01-26", "2011-01-27"]
    assert len({own["mae"] for _, own in numbers.values()}) == 4
    assert "r2" in checked["2011-01-26"].description and checked["2011-01-25"].description == "no KPI breach"
    assert current(instance, spec, names.PERFORMANCE, names.KPI_CHECK) == dict.fromkeys(LABELLED, True)
    cursor, _, _ = absorb(SensorCursor(), spec, instance)
    assert [r.kpi_breach for r in cursor.results] == [False, True, True, False]
