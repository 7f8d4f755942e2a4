"""The monitoring stage: data drift and, once labels arrive, performance, judged per partition.

`monitor_drift` and `monitor_performance` are what the `drift` and `performance` assets run
(and the benchmarks' plain path). Both compare against the champion the lineage hands on (a
`ChampionRef`): its training range and features version give the reference window, so neither
asks the registry who serves. Without a champion the reference is the first partitions.

A range run still judges every partition on its own: each gets one row in the result, with
`None` where there is no value (no verdict, no predictions, no report), never a sentinel.
Both read with the features version they were handed, so a concurrent write cannot change
what a run compares. Performance scores each partition with the model that actually scored
it (the version on its logged batch rows), loaded by version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.lib.monitoring.windows import Reference, current_window, reference_window

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.lib.monitoring.drift import DataQuality, DriftResult, DriftStatus
    from mlops_pipelines.lib.ports import ReportFiles, TableStore
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

# Evidently renders charts inside run(): "drifted" and "never" keep it off long replays.
ReportMode = Literal["always", "drifted", "never"]
# 0 passes, 1 warns, 2 fails; a status this table does not know fails.
SEVERITY: Mapping[str, int] = {"ok": 0, "insufficient_data": 0, "warn": 1, "invalid": 2, "error": 2}
NO_PREDICTIONS = "no predictions (no champion yet)"
SCORED = "scored"


def severity(status: str) -> int:
    return SEVERITY.get(status, 2)


@dataclass(frozen=True)
class DriftRow:
    """One partition's drift verdict: its rolling window against the reference."""

    partition: str
    status: DriftStatus
    drift_share: float | None  # None: no verdict (insufficient_data or invalid)
    drifted_columns: tuple[str, ...]
    column_scores: Mapping[str, float]  # per compared column; empty without a verdict
    rows_current: int
    rows_reference: int
    reasons: tuple[str, ...]
    quality_problems: tuple[str, ...]  # of the partition itself (missing or all-null columns)

    @property
    def has_verdict(self) -> bool:
        return self.drift_share is not None


@dataclass(frozen=True)
class RenderedReport:
    """The one Evidently report of a run (bounded cost whatever the range)."""

    partition: str
    link: str
    evidently_drift_share: float


@dataclass(frozen=True)
class DriftReport:
    rows: tuple[DriftRow, ...]  # in run order
    reference: Reference
    champion_version: str | None  # None: no champion, the reference is the first partitions
    report: RenderedReport | None  # None: no report rendered in this run

    @property
    def worst_status(self) -> str:
        return max((r.status for r in self.rows), key=severity, default="ok")

    @property
    def level(self) -> int:
        return severity(self.worst_status)

    @property
    def last(self) -> DriftRow | None:
        return self.rows[-1] if self.rows else None


def drift_kinds(spec: ProjectSpec) -> dict[str, FeatureKind]:
    from mlops_pipelines.lib.features import feature_kinds

    return {c: k for c, k in feature_kinds(spec).items() if c not in spec.drift.exclude}


def drift_row(partition: str, result: DriftResult, quality: DataQuality) -> DriftRow:
    verdict = result.has_verdict
    return DriftRow(
        partition=partition,
        status=result.status,
        drift_share=result.drift_share if verdict else None,
        drifted_columns=result.drifted_columns,
        column_scores={c.column: c.score for c in result.columns},
        rows_current=result.n_current,
        rows_reference=result.n_reference,
        reasons=result.reasons,
        quality_problems=quality.problems,
    )


def report_partition(mode: ReportMode, rows: Sequence[DriftRow]) -> str | None:
    """At most one report per run, so the cost is bounded whatever the range: the newest
    drifted partition, else (mode "always") the last one when it has a verdict."""
    if mode == "never" or not rows:
        return None
    drifted = [r.partition for r in rows if severity(r.status) >= 1 and r.has_verdict]
    if drifted:
        return drifted[-1]
    if mode == "always" and rows[-1].has_verdict:
        return rows[-1].partition
    return None


def _windows(keys: Sequence[str], features: TableSlice, size: int) -> dict[str, list[str]]:
    return {p: current_window(keys, p, size) for p in features.partitions}


def monitor_drift(
    spec: ProjectSpec,
    features: TableSlice,
    champion: ChampionRef | None,
    tables: TableStore,
    reports: ReportFiles,
    report_mode: ReportMode = "always",
) -> DriftReport:
    """Drift of each partition of `features` (its rolling window) against the champion's reference."""
    from mlops_pipelines.lib.monitoring.drift import compute_drift, data_quality

    keys = tables.partitions(spec.name, names.FEATURES, features.version)
    reference = reference_window(keys, spec, champion, features.version)
    kinds = drift_kinds(spec)
    columns = list(kinds)
    ref_rows = tables.read(
        spec.name, names.FEATURES, list(reference.partitions), reference.features_version, columns
    )
    windows = _windows(keys, features, spec.drift.current_window_partitions)
    needed = sorted({k for w in windows.values() for k in w})
    rows = tables.read(spec.name, names.FEATURES, needed, features.version, [*columns, PARTITION])
    results = []
    for partition, window in windows.items():
        current = rows[rows[PARTITION].isin(window)][columns]
        result = compute_drift(ref_rows, current, kinds, spec.drift)
        quality = data_quality(rows[rows[PARTITION] == partition][columns], kinds)
        results.append(drift_row(partition, result, quality))
    target = report_partition(report_mode, results)
    rendered = None
    if target is not None:
        from mlops_pipelines.lib.monitoring.reports import render_drift_report

        current = rows[rows[PARTITION].isin(windows[target])][columns]
        path = reports.path(spec.name, names.DRIFT, f"{target}.html")
        sample = spec.drift.report_sample_rows
        info = render_drift_report(ref_rows, current, kinds, spec.drift, path, sample, seed=0)
        rendered = RenderedReport(target, reports.link(info.path), info.evidently_drift_share)
    version = None if champion is None else champion.version
    return DriftReport(tuple(results), reference, version, rendered)


@dataclass(frozen=True)
class PerformanceRow:
    """One partition's performance against its labels; model_version None: nothing was scored."""

    partition: str
    model_version: str | None  # the version on the partition's logged batch rows
    rows: int | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    breaches: tuple[str, ...] = ()  # KPI breaches, readable
    target_drift_status: DriftStatus | None = None
    target_drift_score: float | None = None

    @property
    def scored(self) -> bool:
        return self.model_version is not None

    @property
    def status(self) -> str:
        return SCORED if self.scored else NO_PREDICTIONS

    @property
    def kpi_breach(self) -> bool:
        return bool(self.breaches)


@dataclass(frozen=True)
class PerformanceReport:
    rows: tuple[PerformanceRow, ...]  # in run order
    reference: Reference  # the target drift's reference window
    champion_version: str | None
    primary_metric: str

    @property
    def kpi_breach(self) -> bool:
        return any(r.kpi_breach for r in self.rows)


def _batch_versions(tables: TableStore, predictions: TableSlice) -> pd.DataFrame | None:
    """Partition and model version of the logged batch rows; None before anything was scored."""
    from mlops_pipelines.lib.scoring.stage import BATCH_ROUTE

    if predictions.version < 0:
        return None
    logged = tables.read_slice(predictions, columns=[PARTITION, "model_version", "route"])
    return logged[logged["route"] == BATCH_ROUTE]


def monitor_performance(
    spec: ProjectSpec,
    predictions: TableSlice,
    features: TableSlice,
    champion: ChampionRef | None,
    tables: TableStore,
    tracking: TrackingConfig,
) -> PerformanceReport:
    """Metrics, KPI breaches and target drift of each partition's logged predictions.

    Raises lib.scoring.stage.ModelVersionLoadError when the version that scored a partition
    cannot be loaded; a partition without logged batch rows gets a NO_PREDICTIONS row.
    """
    from mlops_pipelines.lib.evaluation.holdout import check_kpis, evaluate_model
    from mlops_pipelines.lib.monitoring.drift import target_drift
    from mlops_pipelines.lib.monitoring.windows import kpi_breaches
    from mlops_pipelines.lib.scoring.stage import load_version
    from mlops_pipelines.lib.training.window import split_features

    keys = tables.partitions(spec.name, names.FEATURES, features.version)
    reference = reference_window(keys, spec, champion, features.version)
    target_kind: FeatureKind = "categorical" if spec.task.is_classification else "numeric"
    ref_target = tables.read(
        spec.name, names.FEATURES, list(reference.partitions), reference.features_version, [spec.target]
    )[spec.target]
    logged = _batch_versions(tables, predictions)
    windows = _windows(keys, features, spec.drift.current_window_partitions)
    needed = sorted({k for w in windows.values() for k in w})
    rows = tables.read(spec.name, names.FEATURES, needed, features.version)
    models: dict[str, object] = {}
    results = []
    for partition, window in windows.items():
        scored = None if logged is None else logged[logged[PARTITION] == partition]
        if scored is None or scored.empty:
            results.append(PerformanceRow(partition, None, None))
            continue
        version = str(scored["model_version"].iloc[0])
        if version not in models:
            models[version] = load_version(tracking, spec, version, f"the model that scored {partition}")
        labelled = split_features(rows[rows[PARTITION].isin(window)], spec)
        result = evaluate_model(
            models[version], labelled.features, labelled.target, spec, labelled.context, importance_rows=0
        )
        target = target_drift(ref_target, labelled.target, target_kind, spec.drift)
        results.append(
            PerformanceRow(
                partition=partition,
                model_version=version,
                rows=result.n_rows,
                metrics={k: float(v) for k, v in result.metrics.items()},
                breaches=tuple(kpi_breaches(check_kpis(result, spec))),
                target_drift_status=target.status,
                target_drift_score=float(target.columns[0].score) if target.columns else None,
            )
        )
    used = None if champion is None else champion.version
    return PerformanceReport(tuple(results), reference, used, spec.training.primary_metric)
