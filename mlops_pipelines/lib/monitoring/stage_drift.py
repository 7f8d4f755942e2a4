"""The drift stage: each partition's rolling window against the champion's reference, with
thresholds calibrated on that reference, and the champion's label-free estimated performance.

Drift alone saturates: weather moves week to week, so fixed thresholds flagged 693 of 731
bike_sharing partitions and the loop retrained at every tick. Two things make the signal carry
information. The thresholds come from the reference itself (`calibrate_drift`, once per run):
a window drifts only if it drifts more than windows inside the training period drift from
the rest of it. And a window that moved is judged by what it does to the model: the champion
scores the window's rows and its estimator (CBPE or DLE) estimates the primary metric without
labels, against the level the champion reached in its own evaluation.

Costs per run: one calibration (22 drift computations for bike_sharing, about 0.05 s), one
model and one estimator load (only with an estimator), one scoring pass over the rows of all
windows, one drift computation and one estimate per monitored partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.lib.monitoring.stage_expectation import (
    EstimatorLoader,
    Signal,
    champion_expectation,
    no_signal,
    registry_estimator,
    scored_outputs,
)
from mlops_pipelines.lib.monitoring.windows import Reference, current_window, reference_window

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.lib.monitoring.calibration import DriftCalibration
    from mlops_pipelines.lib.monitoring.drift import DataQuality, DriftResult, DriftStatus
    from mlops_pipelines.lib.monitoring.stage_expectation import Expectation
    from mlops_pipelines.lib.ports import ReportFiles, TableStore
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

# Evidently renders charts inside run(): "drifted" and "never" keep it off long replays.
ReportMode = Literal["always", "drifted", "never"]
# 0 passes, 1 warns, 2 fails; a status this table does not know fails.
SEVERITY: Mapping[str, int] = {"ok": 0, "insufficient_data": 0, "warn": 1, "invalid": 2, "error": 2}


def severity(status: str) -> int:
    return SEVERITY.get(status, 2)


@dataclass(frozen=True)
class DriftRow:
    """One partition's drift verdict (its rolling window against the reference) and the
    champion's estimated performance on that window."""

    partition: str
    status: DriftStatus
    drift_share: float | None  # None: no verdict (insufficient_data or invalid)
    drifted_columns: tuple[str, ...]
    column_scores: Mapping[str, float]  # per compared column; empty without a verdict
    rows_current: int
    rows_reference: int
    reasons: tuple[str, ...]
    quality_problems: tuple[str, ...]  # of the partition itself (missing or all-null columns)
    column_thresholds: Mapping[str, float] = field(default_factory=dict)  # as applied, per compared column
    calibrated: bool = False  # calibrated thresholds applied; False: the spec's fixed ones
    calibration_note: str | None = None  # why the fixed thresholds apply, when they do
    warn_share: float | None = None  # the shares the status was judged against; None: no verdict
    error_share: float | None = None
    estimated_metric: float | None = None  # None: no estimate (no estimator, or not estimable)
    estimated_degraded: bool | None = None  # None: no verdict, which is not "fine"
    estimated_reason: str | None = None  # why the estimated verdict is what it is
    row_growth: float | None = None  # rows per partition against the reference's (`row_growth`)

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
    calibration: DriftCalibration | None = None  # the thresholds of this run's reference

    @property
    def worst_status(self) -> str:
        return max((r.status for r in self.rows), key=severity, default="ok")

    @property
    def level(self) -> int:
        return severity(self.worst_status)

    @property
    def last(self) -> DriftRow | None:
        return self.rows[-1] if self.rows else None


def row_growth(rows: int, partitions: int, reference_rows: int, reference_partitions: int) -> float | None:
    """Rows per partition of a window against the reference's (the champion's training data):
    how much more a model of the same window length would learn from now. None: no reference."""
    if reference_rows <= 0 or partitions <= 0 or reference_partitions <= 0:
        return None
    return (rows / partitions) / (reference_rows / reference_partitions)


def drift_kinds(spec: ProjectSpec) -> dict[str, FeatureKind]:
    from mlops_pipelines.lib.features import feature_kinds

    # A derived hour, weekday or month moves with the calendar: a new month is not drift.
    left_out = {*spec.drift.exclude, *(f"time_{d}" for d in spec.features.time_features)}
    return {c: k for c, k in feature_kinds(spec).items() if c not in left_out}


def drift_row(
    partition: str,
    result: DriftResult,
    quality: DataQuality,
    calibration: DriftCalibration | None = None,
    estimated: Signal | None = None,
    growth: float | None = None,
) -> DriftRow:
    """A partition's row; `estimated` None: no estimated performance (and no reason given)."""
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
        column_thresholds={c.column: c.threshold for c in result.columns},
        calibrated=calibration is not None and calibration.calibrated,
        calibration_note=None if calibration is None else calibration.note,
        warn_share=result.warn_share,
        error_share=result.error_share,
        estimated_metric=None if estimated is None else estimated.value,
        estimated_degraded=None if estimated is None else estimated.degraded,
        estimated_reason=None if estimated is None else estimated.reason,
        row_growth=growth,
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


def windows_of(keys: Sequence[str], features: TableSlice, size: int) -> dict[str, list[str]]:
    """Each monitored partition's rolling window: the `size` partitions ending at it."""
    return {p: current_window(keys, p, size) for p in features.partitions}


def unseen_windows(
    keys: Sequence[str], features: TableSlice, size: int, champion: ChampionRef | None
) -> dict[str, list[str]]:
    """Each monitored partition's `size` partitions ending at it, without those the champion's
    training data could reach (its as-of and before): how it does on rows it learned from says
    nothing of how it does now. The backtest replays the same window (lib/backtest/signals.py)."""
    as_of = None if champion is None else champion.as_of
    return {
        p: [k for k in w if as_of is None or k > as_of] for p, w in windows_of(keys, features, size).items()
    }


def champion_outputs(
    spec: ProjectSpec, expectation: Expectation, rows: pd.DataFrame, tracking: TrackingConfig
) -> np.ndarray:
    """The champion's output on every row of every window, scored once (loaded by version)."""
    import numpy as np

    from mlops_pipelines.lib.scoring.prediction_log import predict_frame
    from mlops_pipelines.lib.scoring.stage import load_version

    model = load_version(tracking, spec, expectation.version, "the champion")
    if rows.empty:  # sklearn refuses to predict zero rows
        return np.empty(0)
    return scored_outputs(spec.task, predict_frame(spec, model, rows), expectation.estimator.classes)


def render(
    spec: ProjectSpec,
    target: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, FeatureKind],
    reports: ReportFiles,
) -> RenderedReport:
    from mlops_pipelines.lib.monitoring.reports import render_drift_report

    path = reports.path(spec.name, names.DRIFT, f"{target}.html")
    sample = spec.drift.report_sample_rows
    info = render_drift_report(reference, current, kinds, spec.drift, path, sample, seed=0)
    return RenderedReport(target, reports.link(info.path), info.evidently_drift_share)


def monitor_drift(
    spec: ProjectSpec,
    features: TableSlice,
    champion: ChampionRef | None,
    tables: TableStore,
    reports: ReportFiles,
    report_mode: ReportMode = "always",
    *,
    tracking: TrackingConfig | None = None,
    estimators: EstimatorLoader = registry_estimator,
) -> DriftReport:
    """Drift of each partition of `features` (its rolling window) against the champion's
    reference under calibrated thresholds, and the champion's estimated performance there.

    `tracking` is where the champion's model and estimator load from; it is needed only when
    the champion has an estimator. Raises calibration.CalibrationError when the reference
    cannot be calibrated on, lib.scoring.stage.ModelVersionLoadError when the champion no
    longer loads, and stage_expectation.ExpectationError when its estimator cannot be used.
    """
    from mlops_pipelines.lib.monitoring.calibration import calibrate_drift
    from mlops_pipelines.lib.monitoring.drift import compute_drift, data_quality

    keys = tables.partitions(spec.name, names.FEATURES, features.version)
    reference = reference_window(keys, spec, champion, features.version)
    kinds = drift_kinds(spec)
    sparse = {name for name, column in spec.columns.items() if column.sparse}
    columns = list(kinds)
    ref_rows = tables.read(
        spec.name,
        names.FEATURES,
        list(reference.partitions),
        reference.features_version,
        [*columns, PARTITION],
    )
    size = spec.drift.current_window_partitions
    calibration = calibrate_drift(ref_rows, kinds, spec.drift, size)
    ref_rows = ref_rows[columns]
    windows = windows_of(keys, features, size)
    expectation = champion_expectation(champion, tracking, estimators)
    # The estimate spans the performance window: an estimate per drift window of 2 partitions
    # is noisy enough to start retrains on a stream that does not drift. Without an estimator
    # there is nothing to estimate, so nothing more to read.
    estimated: dict[str, list[str]] = {}
    if expectation is not None:
        estimated = unseen_windows(keys, features, spec.retraining.performance_window_partitions, champion)
    needed = sorted({k for w in (*windows.values(), *estimated.values()) for k in w})
    # The model reads every feature column, drift only the monitored ones.
    read = None if expectation is not None else [*columns, PARTITION]
    rows = tables.read(spec.name, names.FEATURES, needed, features.version, read)
    outputs = None
    if expectation is not None:
        assert tracking is not None  # champion_expectation refuses an estimator without one
        outputs = champion_outputs(spec, expectation, rows, tracking)
    results = []
    for partition, window in windows.items():
        in_window = rows[PARTITION].isin(window).to_numpy()
        current = rows[in_window]
        result = compute_drift(ref_rows, current[columns], kinds, spec.drift, calibration=calibration)
        quality = data_quality(rows[rows[PARTITION] == partition][columns], kinds, sparse)
        signal = no_signal(champion)
        if expectation is not None and outputs is not None:
            in_estimate = rows[PARTITION].isin(estimated[partition]).to_numpy()
            estimate = expectation.estimator.estimate(rows[in_estimate], outputs[in_estimate])
            signal = expectation.signal(estimate, spec.retraining)
        growth = row_growth(len(current), len(window), len(ref_rows), len(reference.partitions))
        results.append(drift_row(partition, result, quality, calibration, signal, growth))
    target = report_partition(report_mode, results)
    rendered = None
    if target is not None:
        current = rows[rows[PARTITION].isin(windows[target])][columns]
        rendered = render(spec, target, ref_rows, current, kinds, reports)
    version = None if champion is None else champion.version
    return DriftReport(tuple(results), reference, version, rendered, calibration)
