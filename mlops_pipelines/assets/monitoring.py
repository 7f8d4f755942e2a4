"""Monitoring per time partition: data drift, and performance once labels have arrived.

The stage work is `lib.monitoring.stage` (`monitor_drift`, `monitor_performance`); both take
the `champion` asset's value (a `ChampionRef`) as an input, so the reference window is the
champion's own training window, the expectation is its own estimator and evaluated level, and
each materialization names the champion it used.

A range run (single-run backfill) still judges every partition on its own: each gets an
AssetObservation with its numbers, which the Dagster UI plots over time and which the
retraining sensor reads from the event log (drift: `status`, `drift_share`,
`estimated_degraded`; performance: `kpi_breach`, `realized_degraded`; a verdict is True, False
or None for none). Drift thresholds are calibrated on the reference, and each observation
carries the thresholds applied. Labels arrive `monitoring.label_delay_partitions` after their
partition, so schedules (and the demo) materialize performance for older partitions than the
daily cycle. The drift check WARNs on moderate drift and ERRORs on severe drift; the KPI check
ERRORs on a breach the champion's expectation for the same rows does not explain.
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.assets.scoring import champion_input
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.monitoring.stage import ReportMode
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.monitoring.stage import (
        DriftReport,
        DriftRow,
        PerformanceReport,
        PerformanceRow,
    )


class DriftConfig(dg.Config):
    # Evidently renders charts inside run(): keep it off the hot path of long replays.
    report: ReportMode = "always"


def drift_observation(report: "DriftReport", row: "DriftRow") -> dict[str, Any]:
    """What the sensor and the UI read per partition; None where there is no value."""
    return {
        names.META_STATUS: row.status,
        names.META_DRIFT_SHARE: row.drift_share,
        names.META_DRIFTED_COLUMNS: ", ".join(row.drifted_columns) or None,
        names.META_ROWS_CURRENT: row.rows_current,
        names.META_ROWS_REFERENCE: row.rows_reference,
        names.META_REFERENCE: report.reference.origin,
        names.META_CHAMPION_VERSION: report.champion_version,
        names.META_QUALITY_PROBLEMS: "; ".join(row.quality_problems) or None,
        names.META_CALIBRATED: row.calibrated,
        names.META_CALIBRATION_NOTE: row.calibration_note,
        names.META_WARN_SHARE: row.warn_share,
        names.META_ERROR_SHARE: row.error_share,
        names.META_ESTIMATED: row.estimated_metric,
        names.META_ESTIMATED_DEGRADED: row.estimated_degraded,
        names.META_ESTIMATED_REASON: row.estimated_reason,
        **{f"{names.META_SCORE_PREFIX}{c}": round(s, 5) for c, s in row.column_scores.items()},
        **{f"{names.META_THRESHOLD_PREFIX}{c}": round(t, 5) for c, t in row.column_thresholds.items()},
    }


def drift_table(report: "DriftReport") -> dg.MetadataValue:
    return md_table(
        [
            {
                "partition": r.partition,
                "status": r.status,
                "drift_share": r.drift_share,
                "drifted": ", ".join(r.drifted_columns) or "-",
                "estimated": None if r.estimated_metric is None else round(r.estimated_metric, 4),
                "estimated_degraded": r.estimated_degraded,
                "reasons": "; ".join(r.reasons),
            }
            for r in report.rows
        ]
    )


def drift_metadata(report: "DriftReport") -> dict[str, Any]:
    """The run's summary: the table, the worst status, the last partition's verdicts, the
    thresholds applied, the report."""
    last, rendered, calibration = report.last, report.report, report.calibration
    return {
        names.META_PARTITIONS: drift_table(report),
        names.META_WORST_STATUS: report.worst_status,
        names.META_REFERENCE: report.reference.origin,
        names.META_CHAMPION_VERSION: report.champion_version,
        names.META_DRIFT_SHARE: None if last is None else last.drift_share,
        names.META_STATUS: None if last is None else last.status,
        names.META_REPORT: None if rendered is None else dg.MetadataValue.url(rendered.link),
        names.META_EVIDENTLY_DRIFT_SHARE: None if rendered is None else rendered.evidently_drift_share,
        names.META_CALIBRATED: None if calibration is None else calibration.calibrated,
        names.META_CALIBRATION_NOTE: None if calibration is None else calibration.note,
        names.META_WARN_SHARE: None if calibration is None else calibration.warn_share,
        names.META_ERROR_SHARE: None if calibration is None else calibration.error_share,
        names.META_ESTIMATED: None if last is None else last.estimated_metric,
        names.META_ESTIMATED_DEGRADED: None if last is None else last.estimated_degraded,
    }


def build_drift_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, names.DRIFT)

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            names.FEATURES: dg.AssetIn(asset_key(spec, names.FEATURES)),
            names.CHAMPION: champion_input(spec),
        },
        kinds={"evidently", "pandas", "mlflow"},
        description=(
            f"Data drift of each partition's rolling window ({spec.drift.current_window_partitions} partition(s)) "
            f"against the champion's training data: {spec.drift.numeric_method} / {spec.drift.categorical_method}, "
            "thresholds calibrated on that data; and the champion's label-free estimated performance."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                names.DRIFT_CHECK, asset=key, description="WARN on moderate drift, ERROR on severe drift."
            )
        ],
    )
    def drift(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        features: TableSlice,
        champion: ChampionRef | None,
        lakehouse: Lakehouse,
        reports: ReportStore,
        tracking: MlflowTracking,
    ):
        from mlops_pipelines.lib.monitoring.stage import monitor_drift

        report = monitor_drift(
            spec, features, champion, lakehouse, reports, config.report, tracking=tracking.config()
        )
        for row in report.rows:
            metadata = drift_observation(report, row)
            context.log_event(dg.AssetObservation(key, partition=row.partition, metadata=metadata))
        yield dg.Output(report, metadata=drift_metadata(report))
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=names.DRIFT_CHECK,
            passed=report.level == 0,
            severity=dg.AssetCheckSeverity.WARN if report.level <= 1 else dg.AssetCheckSeverity.ERROR,
            description=f"worst status: {report.worst_status}",
            metadata={names.META_PARTITIONS: drift_table(report)},
        )

    return drift


def performance_observation(row: "PerformanceRow") -> dict[str, Any]:
    """What the sensor and the UI read for a scored partition; None where there is no value."""
    return {
        names.META_MODEL_VERSION: row.model_version,
        names.META_ROWS: row.rows,
        **row.metrics,
        names.META_KPI_BREACH: row.kpi_breach,
        names.META_KPI_BREACHES: "; ".join(row.breaches) or None,
        names.META_KPI_BREACH_EXPLAINED: "; ".join(row.explained_breaches) or None,
        names.META_REALIZED: row.realized_metric,
        names.META_EXPECTED: row.expected_metric,
        names.META_REALIZED_DEGRADED: row.realized_degraded,
        names.META_REALIZED_REASON: row.realized_reason,
        names.META_PERFORMANCE_STATUS: row.performance_status,
        names.META_TARGET_DRIFT_STATUS: row.target_drift_status,
        names.META_TARGET_DRIFT_SCORE: row.target_drift_score,
    }


def performance_table(report: "PerformanceReport") -> dg.MetadataValue:
    metric = report.primary_metric
    return md_table(
        [
            {
                "partition": r.partition,
                "status": r.status,
                "model": r.model_version,
                metric: None if metric not in r.metrics else round(r.metrics[metric], 4),
                "expected": None if r.expected_metric is None else round(r.expected_metric, 4),
                "performance": r.performance_status,
                "breaches": "; ".join(r.breaches) or "-",
                "explained": "; ".join(r.explained_breaches) or "-",
                "target_drift": r.target_drift_status,
            }
            for r in report.rows
        ]
    )


def build_performance_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, names.PERFORMANCE)

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            names.PREDICTIONS: dg.AssetIn(asset_key(spec, names.PREDICTIONS)),
            names.FEATURES: dg.AssetIn(asset_key(spec, names.FEATURES)),
            names.CHAMPION: champion_input(spec),
        },
        kinds={"scikitlearn", "pandas"},
        description=(
            "Metrics of the logged predictions against late labels and against what the champion "
            "was expected to reach on the same rows, target drift and KPI breaches."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                names.KPI_CHECK,
                asset=key,
                description="ERROR when a spec KPI is breached beyond what the expectation explains.",
            )
        ],
    )
    def performance(
        context: dg.AssetExecutionContext,
        predictions: TableSlice,
        features: TableSlice,
        champion: ChampionRef | None,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
    ):
        from mlops_pipelines.lib.monitoring.stage import monitor_performance

        report = monitor_performance(spec, predictions, features, champion, lakehouse, tracking.config())
        for row in report.rows:
            if row.scored:  # a partition without predictions has nothing for the sensor to read
                metadata = performance_observation(row)
                context.log_event(dg.AssetObservation(key, partition=row.partition, metadata=metadata))
        table = performance_table(report)
        yield dg.Output(
            report,
            metadata={
                names.META_PARTITIONS: table,
                names.META_KPI_BREACH: report.kpi_breach,
                names.META_CHAMPION_VERSION: report.champion_version,
            },
        )
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=names.KPI_CHECK,
            passed=not report.kpi_breach,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={names.META_PARTITIONS: table},
        )

    return performance
