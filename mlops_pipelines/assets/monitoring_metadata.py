"""What drift and performance record per partition: metadata, observation and check verdict.

Every partition of a run gets its own record (`assets.partitioned`), so the same numbers go to
three places: the partition's materialization (the Partitions tab, and the Plots tab drawn
against the partition), the partition's AssetObservation (what the retraining sensor reads)
and the partition's check evaluation (pass, warn or fail). The Plots tab draws numbers only:
drift share, drift level, per-column scores and thresholds, estimated, realized and expected
metric, every metric of the partition's labelled window and the count of KPI breaches. None
is "no value" and is not drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.partitioned import PartitionVerdict

if TYPE_CHECKING:
    from mlops_pipelines.lib.monitoring.stage import (
        DriftReport,
        DriftRow,
        PerformanceReport,
        PerformanceRow,
    )


def drift_partition_metadata(report: DriftReport, row: DriftRow) -> dict[str, Any]:
    """A partition's drift numbers; the run's Evidently report only on the partition it shows."""
    from mlops_pipelines.lib.monitoring.stage import severity

    rendered = (
        report.report if report.report is not None and report.report.partition == row.partition else None
    )
    return {
        names.META_STATUS: row.status,
        names.META_DRIFT_LEVEL: severity(row.status),
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
        names.META_ROW_GROWTH: None if row.row_growth is None else round(row.row_growth, 4),
        names.META_REPORT: None if rendered is None else dg.MetadataValue.url(rendered.link),
        names.META_EVIDENTLY_DRIFT_SHARE: None if rendered is None else rendered.evidently_drift_share,
        **{f"{names.META_SCORE_PREFIX}{c}": round(s, 5) for c, s in row.column_scores.items()},
        **{f"{names.META_THRESHOLD_PREFIX}{c}": round(t, 5) for c, t in row.column_thresholds.items()},
    }


def drift_by_partition(report: DriftReport) -> dict[str, dict[str, Any]]:
    return {row.partition: drift_partition_metadata(report, row) for row in report.rows}


def drift_verdicts(report: DriftReport) -> list[PartitionVerdict]:
    """Pass on ok or no verdict, WARN on moderate drift, ERROR on severe (or invalid) drift."""
    from mlops_pipelines.lib.monitoring.stage import severity

    verdicts = []
    for row in report.rows:
        level = severity(row.status)
        verdicts.append(
            PartitionVerdict(
                partition=row.partition,
                passed=level == 0,
                severity=dg.AssetCheckSeverity.WARN if level <= 1 else dg.AssetCheckSeverity.ERROR,
                description="; ".join([row.status, *row.reasons]),
                metadata={
                    names.META_STATUS: row.status,
                    names.META_DRIFT_SHARE: row.drift_share,
                    names.META_DRIFTED_COLUMNS: ", ".join(row.drifted_columns) or None,
                    names.META_WARN_SHARE: row.warn_share,
                    names.META_ERROR_SHARE: row.error_share,
                },
            )
        )
    return verdicts


def performance_observation(row: PerformanceRow) -> dict[str, Any]:
    """What the sensor and the UI read for a partition; None where there is no value."""
    return {
        names.META_MODEL_VERSION: row.model_version,
        names.META_ROWS: row.rows,
        **row.metrics,
        names.META_KPI_BREACH: row.kpi_breach,
        names.META_KPI_BREACH_COUNT: len(row.breaches),
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


def performance_by_partition(report: PerformanceReport) -> dict[str, dict[str, Any]]:
    """Every partition's own record, a partition without predictions included (it says so)."""
    return {
        row.partition: {
            names.META_STATUS: row.status,
            names.META_CHAMPION_VERSION: report.champion_version,
            **performance_observation(row),
        }
        for row in report.rows
    }


def kpi_verdicts(report: PerformanceReport) -> list[PartitionVerdict]:
    """ERROR on a KPI breach the expectation for the same rows does not explain; pass otherwise."""
    verdicts = []
    for row in report.rows:
        described = (
            row.breaches or row.explained_breaches or (("no KPI breach",) if row.scored else (row.status,))
        )
        verdicts.append(
            PartitionVerdict(
                partition=row.partition,
                passed=not row.kpi_breach,
                severity=dg.AssetCheckSeverity.ERROR,
                description="; ".join(described),
                metadata={
                    names.META_KPI_BREACHES: "; ".join(row.breaches) or None,
                    names.META_KPI_BREACH_EXPLAINED: "; ".join(row.explained_breaches) or None,
                    names.META_REALIZED: row.realized_metric,
                    names.META_EXPECTED: row.expected_metric,
                },
            )
        )
    return verdicts
