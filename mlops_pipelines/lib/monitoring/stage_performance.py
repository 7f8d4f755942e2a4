"""The performance stage: once labels arrive, each window's realized metric against what the
champion was expected to reach on those same rows.

A window's realized metric alone says little: a week of busy summer days has a higher MAE than
the champion's evaluation without the model being any worse. So each labelled window is
compared with the champion's label-free estimate for its own rows (its estimator, CBPE or DLE,
fed the rows' features and the model's output); without an estimator, with the level the
champion reached in its evaluation, and the reason says which. A KPI breach counts only when
the expectation for the same rows does not breach that KPI too: a breach the estimate
foresaw is the rows, not the model, and is reported as explained.

The window is the `retraining.performance_window_partitions` partitions ending at the labelled
one (as the backtest replays it; a 2-partition drift window made r2 floors breach on a stream
without drift), restricted to partitions scored by the same model version, which is loaded by
version. A classifier's window reaches back over earlier partitions of that version (none older
than a training window) until its rarer class holds `retraining.performance_min_rows` rows:
with a handful of positives its metric's noise hid a slow decline (`evidence_windows`). A
window with fewer than `retraining.performance_min_rows` rows counts no KPI breach:
it is reported as explained by too few rows. Only
the champion's own partitions are held to its expectation and evaluated level; a partition
an older version scored gets its metrics, and no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.lib.monitoring.stage_expectation import (
    EstimatorLoader,
    champion_expectation,
    realized_verdict,
    registry_estimator,
)
from mlops_pipelines.lib.monitoring.windows import Reference, evidence_window, kpi_breaches, reference_window

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import KpiResult
    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.lib.monitoring.drift import DriftStatus
    from mlops_pipelines.lib.ports import TableStore
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

NO_PREDICTIONS = "no predictions (no champion yet)"
SCORED = "scored"


@dataclass(frozen=True)
class PerformanceRow:
    """One partition's performance against its labels; model_version None: nothing was scored."""

    partition: str
    model_version: str | None  # the version on the partition's logged batch rows
    rows: int | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    breaches: tuple[str, ...] = ()  # KPI breaches that count (unexplained), readable
    explained_breaches: tuple[str, ...] = ()  # breaches the expectation shares, each with why
    target_drift_status: DriftStatus | None = None
    target_drift_score: float | None = None
    realized_metric: float | None = None  # the primary metric on the window's labels
    expected_metric: float | None = None  # the estimate for the same rows; None: no expectation
    realized_degraded: bool | None = None  # None: no verdict (too few rows, no baseline)
    realized_reason: str | None = None  # None only when nothing was scored

    @property
    def scored(self) -> bool:
        return self.model_version is not None

    @property
    def status(self) -> str:
        return SCORED if self.scored else NO_PREDICTIONS

    @property
    def kpi_breach(self) -> bool:
        return bool(self.breaches)

    @property
    def performance_status(self) -> str | None:
        """'degraded', 'ok' or 'no_verdict'; None when nothing was scored."""
        if not self.scored:
            return None
        return {True: "degraded", False: "ok", None: "no_verdict"}[self.realized_degraded]


@dataclass(frozen=True)
class PerformanceReport:
    rows: tuple[PerformanceRow, ...]  # in run order
    reference: Reference  # the target drift's reference window
    champion_version: str | None
    primary_metric: str

    @property
    def kpi_breach(self) -> bool:
        return any(r.kpi_breach for r in self.rows)


def batch_versions(
    tables: TableStore, predictions: TableSlice, partitions: Sequence[str] | None = None
) -> dict[str, frozenset[str]]:
    """The model versions on each partition's logged batch rows (of `partitions`, default the
    slice's own, read at the slice's version); empty before anything was scored. The windows
    reach back before the run's own partitions: their versions come from the same log."""
    from mlops_pipelines.lib.scoring.stage import BATCH_ROUTE

    if predictions.version < 0:
        return {}
    wanted = predictions if partitions is None else replace(predictions, partitions=tuple(partitions))
    logged = tables.read_slice(wanted, columns=[PARTITION, "model_version", "route"])
    batch = logged[logged["route"] == BATCH_ROUTE]
    grouped = batch.groupby(PARTITION)["model_version"]
    return {str(p): frozenset(str(v) for v in versions) for p, versions in grouped.unique().items()}


def newest(versions: frozenset[str]) -> str:
    """The newest of a partition's versions (registry versions count up: "10" after "9")."""
    return max(versions, key=lambda v: (len(v), v))


def same_version(window: Sequence[str], versions: Mapping[str, frozenset[str]], version: str) -> list[str]:
    """The window's partitions scored by `version`: other models' rows say nothing of it.

    Batch scoring replaces a partition's rows whole, so a partition has one version; one with
    several (rows logged some other way) counts for each of them.
    """
    return [p for p in window if version in versions.get(p, frozenset())]


def split_breaches(
    kpis: Sequence[KpiResult], metric: str, expected: float | None, rows: int, min_rows: int
) -> tuple[list[str], list[str]]:
    """(counted, explained) KPI breaches: a breach of `metric` that the expected value for the
    same rows breaches too is explained by the rows, and so is any breach on fewer than
    `min_rows` rows (a metric of a handful of rows is noise); every other breach counts."""
    counted: list[str] = []
    explained: list[str] = []
    if rows < min_rows:
        few = f"not counted: {rows} row(s), fewer than retraining.performance_min_rows ({min_rows})"
        return counted, [f"{text}, {few}" for text in kpi_breaches(kpis)]
    for kpi in kpis:
        foreseen = (
            expected is not None
            and kpi.metric == metric
            and (
                (kpi.floor is not None and expected < kpi.floor)
                or (kpi.ceiling is not None and expected > kpi.ceiling)
            )
        )
        for text in kpi_breaches([kpi]):  # nothing when the KPI holds or has no value
            if foreseen:
                explained.append(f"{text}, as expected: the estimate for these rows is {expected:.4g}")
            else:
                counted.append(text)
    return counted, explained


def reachable(spec: ProjectSpec, keys: Sequence[str], windows: Mapping[str, list[str]]) -> list[str]:
    """The partitions the windows can come to cover: their own and, for a classifier, a training
    window back from each monitored one (`evidence_windows`). Their versions are read once."""
    own = {k for w in windows.values() for k in w}
    if not spec.task.is_classification:
        return sorted(own)
    position = {key: i for i, key in enumerate(keys)}
    span = spec.training.window_partitions
    back = {
        k for p in windows if p in position for k in keys[max(0, position[p] - span + 1) : position[p] + 1]
    }
    return sorted(own | back)


def evidence_windows(
    spec: ProjectSpec,
    tables: TableStore,
    features: TableSlice,
    keys: Sequence[str],
    windows: Mapping[str, list[str]],
    versions: Mapping[str, frozenset[str]],
) -> dict[str, list[str]]:
    """A classifier's windows reached back (`windows.evidence_window`) over earlier partitions
    the same version scored (`versions`, read over `reachable`), none older than a training
    window before the labelled one: until the rarer class holds `retraining.performance_min_rows`
    rows. The backtest replays it."""
    import pandas as pd

    position = {key: i for i, key in enumerate(keys)}
    span = spec.training.window_partitions
    # Only scored partitions can join a window (`same_version`): their labels are all it counts.
    candidates = [k for k in keys if k in versions]
    if not spec.task.is_classification or not candidates:
        return dict(windows)
    labels = tables.read(spec.name, names.FEATURES, candidates, features.version, [PARTITION, spec.target])
    table = pd.crosstab(labels[PARTITION], labels[spec.target].astype(str))
    counts = {str(p): {str(c): int(n) for c, n in row.items() if n} for p, row in table.iterrows()}
    out = {}
    for partition, window in windows.items():
        if partition not in versions or partition not in position:
            out[partition] = window
            continue
        version = newest(versions[partition])
        own = same_version(window, versions, version)
        start = position[window[0]] if window else position[partition]
        earlier = same_version(keys[max(0, position[partition] - span + 1) : start], versions, version)
        out[partition] = evidence_window(own, earlier, counts, spec.retraining.performance_min_rows)
    return out


def monitor_performance(
    spec: ProjectSpec,
    predictions: TableSlice,
    features: TableSlice,
    champion: ChampionRef | None,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    estimators: EstimatorLoader = registry_estimator,
) -> PerformanceReport:
    """Metrics, realized-vs-expected verdict, KPI breaches and target drift of each partition's
    logged predictions.

    Raises lib.scoring.stage.ModelVersionLoadError when the version that scored a partition
    cannot be loaded, stage_expectation.ExpectationError when the champion's estimator cannot be
    used; a partition without logged batch rows gets a NO_PREDICTIONS row.
    """
    from mlops_pipelines.lib.evaluation.holdout import check_kpis, evaluate_model
    from mlops_pipelines.lib.monitoring.drift import target_drift
    from mlops_pipelines.lib.monitoring.stage_drift import windows_of
    from mlops_pipelines.lib.scoring.stage import load_version
    from mlops_pipelines.lib.training.window import split_features

    keys = tables.partitions(spec.name, names.FEATURES, features.version)
    reference = reference_window(keys, spec, champion, features.version)
    target_kind: FeatureKind = "categorical" if spec.task.is_classification else "numeric"
    ref_target = tables.read(
        spec.name, names.FEATURES, list(reference.partitions), reference.features_version, [spec.target]
    )[spec.target]
    monitored = windows_of(keys, features, spec.retraining.performance_window_partitions)
    versions = batch_versions(tables, predictions, reachable(spec, keys, monitored))
    windows = evidence_windows(spec, tables, features, keys, monitored, versions)
    needed = sorted({k for w in windows.values() for k in w})
    rows = tables.read(spec.name, names.FEATURES, needed, features.version)
    expectation = champion_expectation(champion, tracking, estimators)
    metric = spec.training.primary_metric
    models: dict[str, object] = {}
    results = []
    for partition, window in windows.items():
        if partition not in versions:
            results.append(PerformanceRow(partition, None, None))
            continue
        version = newest(versions[partition])
        if version not in models:
            models[version] = load_version(tracking, spec, version, f"the model that scored {partition}")
        labelled = split_features(rows[rows[PARTITION].isin(same_version(window, versions, version))], spec)
        result = evaluate_model(
            models[version], labelled.features, labelled.target, spec, labelled.context, importance_rows=0
        )
        check, expected = realized_verdict(
            spec, result.predictions, labelled.features, champion, expectation, version
        )
        counted, explained = split_breaches(
            check_kpis(result, spec), metric, expected, result.n_rows, spec.retraining.performance_min_rows
        )
        target = target_drift(ref_target, labelled.target, target_kind, spec.drift)
        results.append(
            PerformanceRow(
                partition=partition,
                model_version=version,
                rows=result.n_rows,
                metrics={k: float(v) for k, v in result.metrics.items()},
                breaches=tuple(counted),
                explained_breaches=tuple(explained),
                target_drift_status=target.status,
                target_drift_score=float(target.columns[0].score) if target.columns else None,
                realized_metric=result.metrics.get(metric),
                expected_metric=expected,
                realized_degraded=check.degraded,
                realized_reason=check.reason,
            )
        )
    used = None if champion is None else champion.version
    return PerformanceReport(tuple(results), reference, used, metric)
