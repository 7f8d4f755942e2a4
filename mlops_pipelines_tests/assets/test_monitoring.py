"""Drift, performance and the champion hop for real: Dagster runs of the data, retrain, daily and
labels jobs on real bike_sharing data, MLflow on SQLite, Delta tables, Evidently.

The champion reaches scoring and monitoring as an asset input (a ChampionRef): each
materialization names the version it used, and the retraining sensor reads the per-partition
observations these runs leave in the event log (drift: `status`, `drift_share`,
`estimated_degraded`; performance: `kpi_breach`, `realized_degraded`). Each drift observation
carries the calibrated thresholds it was judged by.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.sensor_cursor import SensorCursor
from mlops_pipelines.sensors import absorb
from mlops_pipelines.settings import DEFAULT_REPORTS_URL
from mlops_pipelines.spec import KPI, ProjectSpec
from mlops_pipelines_tests.assets.monitoring_job import (
    NEXT,
    by_partition,
    check,
    checks,
    failure,
    metadata,
    observations,
    prepared,
    run,
    small,
)

VERDICTS = ("ok", "warn", "error")
FIRST_PARTITIONS = "first partitions (no champion yet)"


def served_version(spec: ProjectSpec) -> str:
    """The version the registry's champion alias names after the retrain job promoted one."""
    served = get_alias(LocalMlflowTracking().config(), spec.name, CHAMPION)
    assert served is not None, "the retrain job promoted no champion"
    return served.version


def columns_of(numbers: dict[str, object], prefix: str) -> set[str]:
    return {key.removeprefix(prefix) for key in numbers if key.startswith(prefix)}


def test_the_champion_is_an_input_of_scoring_drift_and_performance(specs: dict[str, ProjectSpec]) -> None:
    graph = build_definitions({"bike_sharing": specs["bike_sharing"]}).resolve_asset_graph()
    champion = dg.AssetKey(["bike_sharing", names.CHAMPION])
    for asset in (names.PREDICTIONS, names.DRIFT, names.PERFORMANCE):
        assert champion in graph.get(dg.AssetKey(["bike_sharing", asset])).parent_keys, asset


def test_drift_and_predictions_use_the_promoted_champion(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=True)
    version = served_version(spec)
    result = run(spec, names.DAILY_JOB, instance, *NEXT)
    assert result.success
    predictions = metadata(result, names.PREDICTIONS)
    assert predictions[names.META_CHAMPION_VERSION] == version
    assert predictions[names.META_ROWS] > 0 and predictions[names.META_MEAN_PREDICTION] > 0
    assert predictions[names.META_MEAN_SCORE] is None  # regression
    drift = metadata(result, names.DRIFT)
    assert drift[names.META_CHAMPION_VERSION] == version
    assert drift[names.META_REFERENCE] == f"champion v{version} training window"
    assert drift[names.META_STATUS] in VERDICTS and 0.0 <= drift[names.META_DRIFT_SHARE] <= 1.0
    # One report per run, on the partition it shows.
    [report] = [m for m in by_partition(result, names.DRIFT).values() if m[names.META_REPORT] is not None]
    # Linked over http (a browser opens no file:// link from the UI's page), under the reports URL.
    assert (
        report[names.META_REPORT].startswith(f"{DEFAULT_REPORTS_URL}{spec.name}/")
        and report[names.META_EVIDENTLY_DRIFT_SHARE] is not None
    )
    assert isinstance(drift[names.META_CALIBRATED], bool)
    assert drift[names.META_WARN_SHARE] >= spec.drift.warn_share
    seen = observations(instance, spec, names.DRIFT)
    assert sorted(seen) == list(NEXT)
    for numbers in seen.values():
        assert numbers[names.META_STATUS] in VERDICTS and numbers[names.META_CHAMPION_VERSION] == version
        assert isinstance(numbers[names.META_DRIFT_SHARE], float)
        assert (
            numbers[names.META_ROWS_CURRENT] > 0
            and numbers[names.META_REFERENCE] == drift[names.META_REFERENCE]
        )
        scored = columns_of(numbers, names.META_SCORE_PREFIX)
        assert scored and scored == columns_of(numbers, names.META_THRESHOLD_PREFIX)
        assert numbers[names.META_CALIBRATED] is drift[names.META_CALIBRATED]
        assert numbers[names.META_WARN_SHARE] == drift[names.META_WARN_SHARE]
        assert numbers[names.META_ERROR_SHARE] >= numbers[names.META_WARN_SHARE]
        # A 6-partition holdout is too small to fit an estimator on: no estimate, and why.
        assert numbers[names.META_ESTIMATED] is None and numbers[names.META_ESTIMATED_DEGRADED] is None
        assert "has no performance estimator" in numbers[names.META_ESTIMATED_REASON]
    for day, numbers in seen.items():
        assert check(result, names.DRIFT_CHECK, day).passed == (numbers[names.META_STATUS] == "ok")
    cursor, _, _ = absorb(SensorCursor(), spec, instance)  # the sensor reads "no verdict", not "fine"
    assert [r.estimated_degraded for r in cursor.results] == [None, None]
    # Bike's feed holds 24 rows a day, as the champion's training days did: no growth.
    growth = [numbers[names.META_ROW_GROWTH] for numbers in seen.values()]
    assert [r.row_growth for r in cursor.results] == growth and all(0.8 < g < 1.25 for g in growth)


def test_without_a_champion_nothing_is_scored_and_drift_uses_the_first_partitions(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=False)
    result = run(spec, names.DAILY_JOB, instance, *NEXT)
    assert result.success
    predictions = metadata(result, names.PREDICTIONS)
    assert predictions[names.META_CHAMPION_VERSION] is None and predictions[names.META_ROWS] == 0
    assert predictions[names.META_TABLE_VERSION] is None and predictions[names.META_MEAN_PREDICTION] is None
    drift = metadata(result, names.DRIFT)
    assert drift[names.META_CHAMPION_VERSION] is None and drift[names.META_REFERENCE] == FIRST_PARTITIONS
    assert {o[names.META_CHAMPION_VERSION] for o in observations(instance, spec, names.DRIFT).values()} == {
        None
    }


def test_a_window_below_min_rows_is_insufficient_data_with_no_share(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    spec = small(specs["bike_sharing"], min_rows=100_000)
    prepared(spec, instance, champion=False)
    result = run(spec, names.DAILY_JOB, instance, *NEXT)
    assert result.success
    drift = metadata(result, names.DRIFT)
    assert drift[names.META_STATUS] == "insufficient_data" and drift[names.META_DRIFT_SHARE] is None
    assert drift[names.META_REPORT] is None and drift[names.META_EVIDENTLY_DRIFT_SHARE] is None
    seen = observations(instance, spec, names.DRIFT)
    for numbers in seen.values():
        assert numbers[names.META_STATUS] == "insufficient_data"
        assert names.META_DRIFT_SHARE in numbers and numbers[names.META_DRIFT_SHARE] is None
        assert numbers[names.META_DRIFTED_COLUMNS] is None
    assert all(e.passed for e in checks(result, names.DRIFT_CHECK).values())  # no verdict is not drift
    cursor, read, _ = absorb(SensorCursor(), spec, instance)  # the retraining sensor reads them so
    assert read == 2
    assert [(r.partition, r.status, r.drift_share) for r in cursor.results] == [
        (day, "insufficient_data", None) for day in NEXT
    ]


def test_performance_of_the_champions_predictions_against_late_labels(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=True)
    version = served_version(spec)
    assert run(spec, names.DAILY_JOB, instance, *NEXT).success
    result = run(spec, names.LABELS_JOB, instance, *NEXT)
    assert result.success
    performance = metadata(result, names.PERFORMANCE)
    assert performance[names.META_CHAMPION_VERSION] == version
    seen = observations(instance, spec, names.PERFORMANCE)
    assert sorted(seen) == list(NEXT)
    for numbers in seen.values():
        assert numbers[names.META_MODEL_VERSION] == version and numbers[names.META_ROWS] > 0
        assert numbers["mae"] > 0 and numbers[names.META_TARGET_DRIFT_STATUS] is not None
        assert isinstance(numbers[names.META_KPI_BREACH], bool)
        assert numbers[names.META_REALIZED] == numbers["mae"] and numbers[names.META_EXPECTED] is None
        assert numbers[names.META_KPI_BREACH_EXPLAINED] is None  # no estimator: nothing explains a breach
    # The window holds only partitions this version scored: one day (24 rows) gives no verdict,
    # two days are held to the champion's evaluated level (it has no estimator).
    first, second = seen[NEXT[0]], seen[NEXT[1]]
    assert (
        first[names.META_REALIZED_DEGRADED] is None and first[names.META_PERFORMANCE_STATUS] == "no_verdict"
    )
    assert "fewer than 30" in first[names.META_REALIZED_REASON]
    assert isinstance(second[names.META_REALIZED_DEGRADED], bool)
    assert "than the evaluated" in second[names.META_REALIZED_REASON]
    materialized = by_partition(result, names.PERFORMANCE)
    for day, numbers in seen.items():
        breached = numbers[names.META_KPI_BREACH]
        assert materialized[day][names.META_KPI_BREACH] == breached
        assert check(result, names.KPI_CHECK, day).passed != breached
    cursor, _, _ = absorb(SensorCursor(), spec, instance)
    assert [r.realized_degraded for r in cursor.results] == [None, second[names.META_REALIZED_DEGRADED]]

    strict = spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=0.001)]})
    again = run(strict, names.LABELS_JOB, instance, *NEXT)
    assert metadata(again, names.PERFORMANCE)[names.META_KPI_BREACH] is True
    # The first day's window holds 23 rows, fewer than performance_min_rows: its breach is
    # shown as explained and does not fail the check; the second's counts.
    few = check(again, names.KPI_CHECK, NEXT[0])
    assert few.passed and "fewer than retraining.performance_min_rows" in str(few.metadata)
    kpis = check(again, names.KPI_CHECK, NEXT[1])
    assert not kpis.passed and kpis.severity == dg.AssetCheckSeverity.ERROR
    observed = observations(instance, spec, names.PERFORMANCE)
    assert [observed[day][names.META_KPI_BREACH] for day in NEXT] == [False, True]
    cursor, _, _ = absorb(SensorCursor(), spec, instance)
    assert [r.kpi_breach for r in cursor.results] == [False, True]


def test_performance_before_any_prediction_reports_no_predictions_and_no_breach(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=False)
    assert run(spec, names.DAILY_JOB, instance, *NEXT).success  # scores nothing: no champion
    result = run(spec, names.LABELS_JOB, instance, *NEXT)
    assert result.success
    performance = metadata(result, names.PERFORMANCE)
    assert performance[names.META_KPI_BREACH] is False and performance[names.META_CHAMPION_VERSION] is None
    statuses = [m[names.META_STATUS] for m in by_partition(result, names.PERFORMANCE).values()]
    assert statuses == ["no predictions (no champion yet)"] * 2
    assert observations(instance, spec, names.PERFORMANCE) == {}  # nothing for the sensor to read
    assert all(e.passed for e in checks(result, names.KPI_CHECK).values())


def test_a_champion_whose_version_no_longer_loads_fails_scoring_naming_it(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=True)
    version = served_version(spec)
    with open_client(LocalMlflowTracking().config()) as client:
        client.delete_model_version(spec.name, version)  # the champion asset still names it
    result = run(spec, names.DAILY_JOB, instance, *NEXT)
    message = failure(result, spec, names.PREDICTIONS)
    assert f"bike_sharing: the champion (version {version}) cannot be loaded" in message
    assert "does not exist" in message
    # Without an estimator drift loads no model: it still judges against the champion's window.
    drift = metadata(result, names.DRIFT)
    assert (
        drift[names.META_CHAMPION_VERSION] == version
        and drift[names.META_REFERENCE] == f"champion v{version} training window"
    )
