"""The raw health checks (freshness, row count) in real runs of the raw asset over a real CSV:
a steady feed passes both, a feed that stops early, thins out and then goes silent fails both."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.assets.ingestion import build_raw_asset
from mlops_pipelines.assets.raw_checks import build_raw_checks
from mlops_pipelines.resources.environment import environment_for
from mlops_pipelines.spec import ProjectSpec, parse_spec

DAYS = [f"2024-01-{d:02d}" for d in range(1, 9)]


def feed(tmp_path: Path, hours: dict[str, range]) -> ProjectSpec:
    """A project over one CSV with a row at each of `hours` of each day (every hour by default)."""
    lines = ["ts,x,y"]
    for day in DAYS:
        for hour in hours.get(day, range(24)):
            moment = datetime.fromisoformat(day) + timedelta(hours=hour)
            lines.append(f"{moment.isoformat(sep=' ')},{hour / 10},{hour % 7}")
    (tmp_path / "feed.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return parse_spec(
        {
            "name": "feed",
            "task": "regression",
            "source": {"kind": "csv", "files": [{"path": "feed.csv"}]},
            "schema": {"ts": {"dtype": "datetime"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
            "target": "y",
            "time": {"column": "ts"},
            "partitions": {"grain": "daily", "start": DAYS[0], "end": "2024-01-09"},
            "data_dir": str(tmp_path),
        }
    )


def run_raw(spec: ProjectSpec, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    """Raw and its health checks for every day, as one range run (as the data and daily jobs do)."""
    result = dg.materialize(
        [build_raw_asset(spec), build_raw_checks(spec)],
        instance=instance,
        resources=dict(environment_for("local").resources),
        tags={names.RANGE_START_TAG: DAYS[0], names.RANGE_END_TAG: DAYS[-1]},
    )
    assert result.success  # neither check blocks: late or thin data is still stored
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def test_a_steady_feed_is_fresh_with_usual_row_counts(
    tmp_path: Path, mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    checks = run_raw(feed(tmp_path, {}), instance)
    fresh, rows = checks[names.FRESHNESS_CHECK], checks[names.ROW_COUNT_CHECK]
    assert fresh.passed and rows.passed
    meta = fresh.metadata
    assert meta[names.META_CHECKED_PARTITIONS].value == len(DAYS)
    # Hourly rows, each covering its hour: the newest (23:00) ends as the day closes.
    assert meta[names.META_MAX_LATENESS_HOURS].value == 0.0
    assert (meta[names.META_WARN_AFTER_HOURS].value, meta[names.META_ERROR_AFTER_HOURS].value) == (3.0, 6.0)


def test_a_feed_of_dates_is_fresh_and_a_missing_day_is_not(
    tmp_path: Path, mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    # One row per day stamped at midnight (a date column): each covers its whole day.
    spec = feed(tmp_path, {day: range(1) for day in DAYS} | {DAYS[6]: range(0)})
    fresh = run_raw(spec, instance)[names.FRESHNESS_CHECK]
    late = fresh.metadata[names.META_LATE_PARTITIONS].value
    assert f"| {DAYS[6]} | error |" in late  # the day without a row
    assert all(day not in late for day in DAYS[:6] + DAYS[7:])
    assert fresh.metadata[names.META_MAX_LATENESS_HOURS].value == 24.0  # the missing day only


def test_late_thin_and_missing_data_warn_then_error(
    tmp_path: Path, mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    spec = feed(tmp_path, {DAYS[4]: range(20), DAYS[5]: range(10), DAYS[7]: range(0)})
    checks = run_raw(spec, instance)
    fresh, rows = checks[names.FRESHNESS_CHECK], checks[names.ROW_COUNT_CHECK]
    assert not fresh.passed and fresh.severity == dg.AssetCheckSeverity.ERROR
    late = fresh.metadata[names.META_LATE_PARTITIONS].value
    # 4 h late warns, 14 h late and no rows at all error; the steady days are not listed.
    assert f"| {DAYS[4]} | warn |" in late and f"| {DAYS[5]} | error |" in late
    assert f"| {DAYS[7]} | error |" in late and DAYS[3] not in late
    assert fresh.description is not None and f"{DAYS[7]}: no rows" in fresh.description
    assert not rows.passed and rows.severity == dg.AssetCheckSeverity.ERROR
    anomalies = rows.metadata[names.META_ANOMALIES].value
    assert f"| {DAYS[5]} | warn | 10 | 24.0 |" in anomalies  # under half the recent median
    assert f"| {DAYS[7]} | error | 0 |" in anomalies
    assert DAYS[4] not in anomalies  # 20 rows: within [0.5, 2] x the median


def test_the_thresholds_come_from_the_spec(
    tmp_path: Path, mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    spec = feed(tmp_path, {DAYS[4]: range(20)})
    monitoring = spec.monitoring.model_copy(
        update={"freshness_warn_after": timedelta(hours=5), "freshness_error_after": timedelta(hours=8)}
    )
    checks = run_raw(spec.model_copy(update={"monitoring": monitoring}), instance)
    assert checks[names.FRESHNESS_CHECK].passed  # 4 h late is within 5 h
    assert checks[names.FRESHNESS_CHECK].metadata[names.META_WARN_AFTER_HOURS].value == 5.0


@pytest.mark.parametrize("field", ["freshness_warn_after", "freshness_error_after"])
def test_freshness_thresholds_must_be_ordered_and_positive(field: str, tmp_path: Path) -> None:
    from mlops_pipelines.spec import MonitoringSpec

    with pytest.raises(ValueError, match="freshness_warn_after"):
        MonitoringSpec(freshness_warn_after=timedelta(hours=6), freshness_error_after=timedelta(hours=6))
    with pytest.raises(ValueError, match=field):
        MonitoringSpec(**{field: timedelta(0)})


def test_every_job_that_ingests_runs_both_checks_and_neither_blocks(specs: dict[str, ProjectSpec]) -> None:
    from mlops_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    for project in specs:
        wanted = {dg.AssetCheckKey(dg.AssetKey([project, names.RAW]), n) for n in ("freshness", "row_count")}
        assert not any(graph.get_check_spec(key).blocking for key in wanted)
        for job in (names.DATA_JOB, names.DAILY_JOB):
            checks = defs.resolve_job_def(names.scoped(project, job)).asset_layer.asset_graph.asset_check_keys
            assert wanted <= set(checks), (project, job)


def test_run_alone_before_any_ingestion_the_checks_warn_that_raw_is_empty(
    tmp_path: Path, mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    spec = feed(tmp_path, {})
    result = dg.materialize(
        [build_raw_asset(spec), build_raw_checks(spec)],
        instance=instance,
        resources=dict(environment_for("local").resources),
        selection=dg.AssetSelection.checks(
            *build_raw_checks(spec).check_keys
        ),  # alone, as from the Checks tab
    )
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {names.FRESHNESS_CHECK, names.ROW_COUNT_CHECK}
    for evaluation in evaluations.values():
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description == "-: raw holds no partition yet"
