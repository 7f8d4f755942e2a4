"""The monitoring stage without Dagster: the reference window from the ChampionRef, drift and
performance per partition on real bike_sharing features, a really trained version, real MLflow
and Delta tables. No registry is asked who the champion is: the tests hand it over."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.lib.monitoring.stage import (
    NO_PREDICTIONS,
    DriftRow,
    monitor_drift,
    monitor_performance,
    report_partition,
    severity,
)
from mlops_pipelines.lib.monitoring.stage_drift import unseen_windows
from mlops_pipelines.lib.monitoring.stage_performance import batch_versions, evidence_windows, reachable
from mlops_pipelines.lib.monitoring.windows import current_window, evidence_window, reference_window
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.scoring.stage import BATCH_ROUTE, ModelVersionLoadError, score_partitions
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.spec import KPI, ProjectSpec, SpecError, Task, parse_spec
from mlops_pipelines_tests.lib.model_support import ReportDir
from mlops_pipelines_tests.lib.scoring.champion_support import Served, features_slice, nothing_scored

DAYS = ("2011-01-23", "2011-01-24")
KEYS = [f"2011-01-{d:02d}" for d in range(1, 25)]


def ref(
    version: str | None, train_range: tuple[str, str] | None, features_version: int | None
) -> ChampionRef:
    return ChampionRef("bike_sharing", version, features_version=features_version, train_range=train_range)


@pytest.mark.parametrize(
    ("champion", "partitions", "version", "origin"),
    [
        (ref("3", ("2011-01-05", "2011-01-20"), 2), KEYS[4:20], 2, "champion v3 training window"),
        (None, KEYS[:20], 9, "first partitions (no champion yet)"),
        (ChampionRef.absent("bike_sharing"), KEYS[:20], 9, "first partitions (no champion yet)"),
        (ref("3", None, 2), KEYS[:20], 9, "first partitions (no champion yet)"),  # registered by hand
        (ref("3", ("2011-01-05", "2011-01-20"), None), KEYS[:20], 9, "first partitions (no champion yet)"),
        (ref("3", ("2010-01-01", "2010-12-31"), 2), KEYS[:20], 9, "first partitions (no champion yet)"),
    ],
    ids=["champion", "none", "no-version", "no-range", "no-features-version", "range-not-stored"],
)
def test_the_reference_window_comes_from_the_champion_ref(
    bike_spec: ProjectSpec, champion: ChampionRef | None, partitions: list[str], version: int, origin: str
) -> None:
    spec = bike_spec.model_copy(
        update={"drift": bike_spec.drift.model_copy(update={"reference_partitions": 20})}
    )
    reference = reference_window(KEYS, spec, champion, current_version=9)
    assert (list(reference.partitions), reference.features_version, reference.origin) == (
        partitions,
        version,
        origin,
    )


@pytest.mark.parametrize(
    ("cap", "with_champion", "partitions"),
    [
        (None, True, KEYS[4:20]),  # the whole training window, the rows the model learned from
        (6, True, KEYS[14:20]),  # capped: its newest 6
        (None, False, KEYS[:10]),  # no champion yet: the first training window's worth
        (6, False, KEYS[:6]),
    ],
    ids=["default-champion", "capped-champion", "default-first", "capped-first"],
)
def test_by_default_the_reference_is_the_champions_whole_training_window(
    bike_spec: ProjectSpec, cap: int | None, with_champion: bool, partitions: list[str]
) -> None:
    spec = bike_spec.model_copy(
        update={
            "drift": bike_spec.drift.model_copy(update={"reference_partitions": cap}),
            "training": bike_spec.training.model_copy(update={"window_partitions": 10}),
        }
    )
    champion = ref("3", ("2011-01-05", "2011-01-20"), 2) if with_champion else None
    assert list(reference_window(KEYS, spec, champion, current_version=9).partitions) == partitions


def test_a_reference_of_no_partitions_is_refused(bike_spec: ProjectSpec) -> None:
    data = bike_spec.model_dump(mode="json")
    data["drift"]["reference_partitions"] = 0
    with pytest.raises(SpecError, match="reference_partitions"):
        parse_spec(data)


def row(partition: str, status: str, share: float | None) -> DriftRow:
    return DriftRow(partition, status, share, (), {}, 100, 100, (), ())  # type: ignore[arg-type]


def test_a_partition_without_feature_rows_is_judged_on_the_ones_before_it() -> None:
    keys = ["2020-05-18", "2020-05-25", "2020-06-15"]  # 06-01 and 06-08: every row unlabelled
    assert current_window(keys, "2020-05-25", 2) == ["2020-05-18", "2020-05-25"]
    assert current_window(keys, "2020-06-08", 2) == ["2020-05-18", "2020-05-25"]
    assert current_window(keys, "2020-06-15", 2) == ["2020-05-25", "2020-06-15"]
    assert current_window(keys, "2020-05-11", 2) == []  # labels missing from the first week on


@pytest.mark.parametrize(
    ("mode", "rows", "chosen"),
    [
        ("never", [row("a", "error", 0.9)], None),
        ("drifted", [row("a", "warn", 0.4), row("b", "ok", 0.0)], "a"),
        ("always", [row("a", "error", 0.9), row("b", "warn", 0.3), row("c", "ok", 0.0)], "b"),
        ("always", [row("a", "ok", 0.0), row("b", "ok", 0.1)], "b"),
        ("drifted", [row("a", "ok", 0.0)], None),
        ("always", [row("a", "ok", 0.0), row("b", "insufficient_data", None)], None),
        ("always", [], None),
    ],
)
def test_at_most_one_report_the_newest_drifted_partition_first(
    mode: str, rows: list[DriftRow], chosen: str | None
) -> None:
    assert report_partition(mode, rows) == chosen  # type: ignore[arg-type]


def test_an_unknown_status_is_as_severe_as_an_error() -> None:
    assert [severity(s) for s in ("ok", "insufficient_data", "warn", "error", "invalid", "???")] == [
        0,
        0,
        1,
        2,
        2,
        2,
    ]


def test_drift_is_judged_against_the_champions_training_window(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, reports: ReportDir
) -> None:
    features = features_slice(bike_spec, bike_tables, *DAYS)
    report = monitor_drift(bike_spec, features, served.champion, bike_tables, reports, "always")
    assert served.champion.train_range is not None
    assert report.champion_version == served.champion.version
    assert report.reference.origin == f"champion v{served.champion.version} training window"
    first, last = served.champion.train_range
    assert report.reference.partitions[0] >= first and report.reference.partitions[-1] == last
    assert [r.partition for r in report.rows] == list(DAYS)
    for r in report.rows:
        assert r.status in ("ok", "warn", "error") and r.has_verdict
        assert r.drift_share is not None and 0.0 <= r.drift_share <= 1.0
        assert set(r.drifted_columns) <= set(r.column_scores) and r.column_scores
        assert r.rows_current > r.rows_reference / 10 and r.quality_problems == ()
        assert report.calibration is not None and r.calibrated == report.calibration.calibrated
        assert set(r.column_thresholds) == set(r.column_scores)
        # This champion has no performance estimator: no estimate, no verdict, and why.
        assert (r.estimated_metric, r.estimated_degraded) == (None, None)
        assert (
            r.estimated_reason
            == f"no estimate: champion v{served.champion.version} has no performance estimator"
        )
    assert report.report is not None and report.report.partition in DAYS
    assert Path(report.report.link.removeprefix("file://")).is_file()


def test_without_a_champion_drift_compares_with_the_first_partitions(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, reports: ReportDir
) -> None:
    report = monitor_drift(
        bike_spec, features_slice(bike_spec, bike_tables, *DAYS), None, bike_tables, reports, "never"
    )
    assert report.champion_version is None and report.report is None
    assert report.reference.origin == "first partitions (no champion yet)"
    assert report.reference.partitions[0] == "2011-01-01"
    assert {r.estimated_reason for r in report.rows} == {"no estimate: no champion yet"}


def test_a_window_below_min_rows_has_no_verdict_and_no_share(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, reports: ReportDir
) -> None:
    spec = bike_spec.model_copy(update={"drift": bike_spec.drift.model_copy(update={"min_rows": 100_000})})
    report = monitor_drift(
        spec, features_slice(spec, bike_tables, *DAYS), served.champion, bike_tables, reports
    )
    assert [(r.status, r.drift_share, r.drifted_columns) for r in report.rows] == [
        ("insufficient_data", None, ())
    ] * 2
    assert "min_rows is 100000" in report.rows[0].reasons[0]
    assert report.report is None  # "always", but nothing has a verdict to show
    assert (report.worst_status, report.level) == ("insufficient_data", 0)


def test_shifted_features_drift_severely(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, reports: ReportDir, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(bike_tables.root, lake)
    tables = DeltaTables(str(lake))
    rows = tables.read(bike_spec.name, names.FEATURES, keys=["2011-01-24"])
    for column in ("temp", "atemp", "hum", "windspeed"):
        rows[column] = rows[column] + 5.0
    for key in ("2011-01-25", "2011-01-26"):
        tables.write_partitions(bike_spec.name, names.FEATURES, rows.assign(**{PARTITION: key}), [key])
    spec = bike_spec.model_copy(
        update={"drift": bike_spec.drift.model_copy(update={"current_window_partitions": 2, "min_rows": 30})}
    )
    shifted = features_slice(spec, tables, "2011-01-26")
    report = monitor_drift(spec, shifted, served.champion, tables, reports, "drifted")
    [only] = report.rows
    assert only.status in ("warn", "error") and {"temp", "atemp"} <= set(only.drifted_columns)
    assert report.level >= 1 and report.report is not None and report.report.partition == "2011-01-26"


def test_performance_per_scored_partition_against_its_labels(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served
) -> None:
    features = features_slice(bike_spec, bike_tables, *DAYS)
    scored = score_partitions(bike_spec, features, served.champion, bike_tables, served.tracking)
    report = monitor_performance(
        bike_spec, scored.predictions, features, served.champion, bike_tables, served.tracking
    )
    assert report.champion_version == served.champion.version and report.primary_metric == "mae"
    for r in report.rows:
        assert r.scored and r.status == "scored" and r.model_version == served.champion.version
        assert r.rows is not None and r.rows > 0 and r.metrics["mae"] > 0
        assert r.target_drift_status is not None
        # Neither an estimator nor an evaluated level on this ChampionRef: nothing to hold it to.
        assert r.realized_metric == r.metrics["mae"] and r.expected_metric is None
        assert r.realized_degraded is None and r.performance_status == "no_verdict"
        assert r.realized_reason is not None and r.realized_reason.startswith("no realized verdict: ")
    # Only partitions the same version scored make up a window: the first holds one day.
    assert [r.rows for r in report.rows] == [23, 46] and "fewer than 30" in str(
        report.rows[0].realized_reason
    )
    assert "no evaluated baseline" in str(report.rows[1].realized_reason)
    assert report.kpi_breach == any(r.breaches for r in report.rows)

    strict = bike_spec.model_copy(update={"kpis": [KPI(metric="mae", ceiling=0.001)]})
    breached = monitor_performance(
        strict, scored.predictions, features, served.champion, bike_tables, served.tracking
    )
    # The first window holds 23 rows, fewer than performance_min_rows: its breach is reported, not counted.
    few, enough = breached.rows
    assert breached.kpi_breach and (few.kpi_breach, enough.kpi_breach) == (False, True)
    assert "mae" in enough.breaches[0] and "<= 0.001" in enough.breaches[0]
    assert "23 row(s), fewer than retraining.performance_min_rows (30)" in few.explained_breaches[0]


def test_a_run_of_one_partition_judges_the_whole_window_earlier_runs_scored(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, tmp_path: Path
) -> None:
    """The daily job scores and monitors one partition a run. Its realized window still spans
    the partitions earlier runs scored with the same version (the backtest's window): reading
    only the run's own prediction rows cut every window to that one partition, too noisy for
    the margin, and verdicts flipped as each run re-judged them."""
    lake = tmp_path / "lake"
    shutil.copytree(bike_tables.root, lake)
    tables = DeltaTables(str(lake))
    first, second = DAYS
    score_partitions(
        bike_spec, features_slice(bike_spec, tables, first), served.champion, tables, served.tracking
    )
    features = features_slice(bike_spec, tables, second)
    run = score_partitions(bike_spec, features, served.champion, tables, served.tracking)
    assert run.predictions.partitions == (second,)
    report = monitor_performance(
        bike_spec, run.predictions, features, served.champion, tables, served.tracking
    )
    [only] = report.rows
    assert only.partition == second and only.model_version == served.champion.version
    assert only.rows == 46  # both days, as when one run scored them both (above)
    # The twin: a partition earlier runs never scored is no part of the window.
    alone = features_slice(bike_spec, tables, "2011-01-22")
    run = score_partitions(bike_spec, alone, served.champion, tables, served.tracking)
    [lonely] = monitor_performance(
        bike_spec, run.predictions, alone, served.champion, tables, served.tracking
    ).rows
    assert lonely.partition == "2011-01-22" and lonely.rows == 23  # its own rows only


def test_a_window_short_of_its_rarer_class_reaches_back_until_it_has_enough() -> None:
    counts = {k: {"0": 30, "1": 1} for k in "abcdefgh"}
    counts["b"] = {"0": 25, "1": 4}
    # 3 positives in the window (f, g, h), 9 with e..b: back to b, then no further.
    assert evidence_window(["f", "g", "h"], ["a", "b", "c", "d", "e"], counts, 8) == list("bcdefgh")
    # None earlier has enough: the window takes every earlier partition it may, and stops there.
    assert evidence_window(["g", "h"], ["e", "f"], counts, 50) == list("efgh")
    # The twin: a window holding both classes in plenty stays as it is.
    assert evidence_window(["g", "h"], ["e", "f"], {k: {"0": 40, "1": 35} for k in "efgh"}, 30) == ["g", "h"]
    # A window of one class only is short of the other, which it has none of yet.
    assert evidence_window(["h"], ["g"], {"g": {"1": 31}, "h": {"0": 99}}, 30) == ["g", "h"]


def test_a_classifiers_labelled_window_reaches_back_over_what_the_same_version_scored(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, tmp_path: Path
) -> None:
    """Real Delta tables and logged predictions; the target is bike_sharing's `holiday`, whose
    only January day is 2011-01-17 (24 rows): the week after it has none."""
    lake = tmp_path / "lake"
    shutil.copytree(bike_tables.root, lake)
    tables = DeltaTables(str(lake))
    scored_days = KEYS[9:]  # 2011-01-10..24: earlier days were never scored
    run = score_partitions(
        bike_spec, features_slice(bike_spec, tables, *scored_days), served.champion, tables, served.tracking
    )
    features = features_slice(bike_spec, tables, KEYS[-1])
    keys = tables.partitions(bike_spec.name, names.FEATURES, features.version)
    week = {KEYS[-1]: current_window(keys, KEYS[-1], 7)}
    assert week[KEYS[-1]] == KEYS[17:]

    def reach(spec: ProjectSpec) -> list[str]:
        versions = batch_versions(tables, run.predictions, reachable(spec, keys, week))
        return evidence_windows(spec, tables, features, keys, week, versions)[KEYS[-1]]

    holidays = bike_spec.model_copy(update={"task": Task("binary"), "target": "holiday"})
    assert holidays.training.window_partitions == 12

    def tuned(spec: ProjectSpec, **retraining: int) -> ProjectSpec:
        return spec.model_copy(update={"retraining": spec.retraining.model_copy(update=retraining)})

    # 24 holiday rows are short of performance_min_rows (30): back as far as a training window
    # (12 partitions, to 2011-01-13), or, with a longer one, to the first day this version
    # scored and no further (2011-01-01..09 were scored by none).
    assert reach(holidays) == KEYS[12:]
    longer = holidays.model_copy(
        update={"training": holidays.training.model_copy(update={"window_partitions": 60})}
    )
    assert reach(longer) == scored_days
    assert reach(tuned(holidays, performance_min_rows=20)) == KEYS[16:]  # back to 2011-01-17 only
    # The twins: working days and weekends both in plenty, and a regression, keep the week.
    assert reach(holidays.model_copy(update={"target": "workingday"})) == KEYS[17:]
    assert reach(bike_spec) == KEYS[17:]


def test_performance_before_any_prediction_reports_no_predictions_and_no_breach(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: object
) -> None:
    features = features_slice(bike_spec, bike_tables, *DAYS)
    report = monitor_performance(
        bike_spec,
        nothing_scored(bike_spec, bike_tables),
        features,
        None,
        bike_tables,
        tracking,  # type: ignore[arg-type]
    )
    assert [(r.partition, r.status, r.model_version, r.rows) for r in report.rows] == [
        (day, NO_PREDICTIONS, None, None) for day in DAYS
    ]
    assert not report.kpi_breach and report.champion_version is None


def test_performance_fails_naming_a_scoring_version_that_no_longer_loads(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(bike_tables.root, lake)
    tables = DeltaTables(str(lake))
    features = features_slice(bike_spec, tables, "2011-01-24")
    scored = score_partitions(bike_spec, features, served.champion, tables, served.tracking)
    log = tables.read_slice(scored.predictions).assign(model_version="42")  # a version since deleted
    where: dict[str, str] = {"route": BATCH_ROUTE}
    relogged = tables.write_partitions(bike_spec.name, names.PREDICTIONS, log, ["2011-01-24"], where=where)
    with pytest.raises(ModelVersionLoadError, match=r"the model that scored 2011-01-24 \(version 42\)"):
        monitor_performance(bike_spec, relogged, features, served.champion, tables, served.tracking)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (None, KEYS[17:24]),  # no champion's as-of: the whole performance window
        ("2011-01-20", KEYS[20:24]),  # only what the champion could not train on
        ("2011-01-24", []),  # all of it seen in training: no rows, so no estimate
    ],
    ids=["no-as-of", "partly-seen", "all-seen"],
)
def test_the_estimate_spans_the_performance_window_the_champion_did_not_train_on(
    as_of: str | None, expected: list[str]
) -> None:
    monitored = TableSlice("bike_sharing/features", "memory://", 3, ("2011-01-24",), 24)
    champion = ChampionRef("bike_sharing", "3", as_of=as_of)
    assert unseen_windows(KEYS, monitored, 7, champion) == {"2011-01-24": expected}
