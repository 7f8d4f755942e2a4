"""Evidently HTML reports on a bounded, seeded sample: the human-readable side of monitoring.

The verdict comes from `lib.monitoring.drift` on every row; the report is for people, so it runs on at
most `sample_rows` rows per side and costs the same whatever the partition size. Methods and
thresholds come from the spec's DriftSpec; where Evidently's built-in test of the same name
means something else, a test with our definition is registered so report and verdict agree.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.monitoring import drift_stats as stats
from mlops_pipelines.lib.monitoring.drift import is_drifted
from mlops_pipelines.lib.monitoring.report_html import report_html

if TYPE_CHECKING:
    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.spec import DriftSpec, Task

log = logging.getLogger(__name__)

# Our methods whose meaning differs from Evidently's built-in of the same name.
_OWN_NUMERIC = {"ks": "mlops_ks_statistic", "psi": "mlops_psi_deciles"}
_OWN_CATEGORICAL = {"chisquare": "mlops_chisquare_homogeneity"}


class ReportError(ValueError):
    """A report that cannot be built from this input; the message names the column or file."""


@dataclass(frozen=True)
class ReportInfo:
    path: Path
    sample_rows_reference: int
    sample_rows_current: int
    evidently_drift_share: float
    seconds: float
    skipped: tuple[str, ...] = ()  # columns left out, each with its reason
    column_scores: Mapping[str, float] = field(default_factory=dict)  # Evidently's per-column score


@dataclass(frozen=True)
class EvidentlyDrift:
    snapshot: Any  # evidently Snapshot
    drift_share: float
    scores: Mapping[str, float]
    drifted: Mapping[str, bool] = field(default_factory=dict)


def sample_frame(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows drawn without replacement, kept in their original order."""
    if len(frame) <= rows:
        return frame
    picked = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[picked]


def prepare_columns(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, FeatureKind]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, FeatureKind], list[str]]:
    """Frames Evidently cannot choke on: numeric as float64, categorical as str, bad columns out.

    Evidently raises on an empty or all-NaN column (ValueError) and on strings in a numeric
    column (a raw numpy TypeError), so such columns are dropped here with a reason.
    """
    ref_out, cur_out, kept, skipped = {}, {}, {}, []
    for name, kind in kinds.items():
        missing = [side for side, f in (("reference", reference), ("current", current)) if name not in f]
        if missing:
            skipped.append(f"column '{name}' skipped: missing from {' and '.join(missing)}")
            continue
        if kind == "numeric":
            ref_values, cur_values = (
                stats.numeric_values(reference[name]),
                stats.numeric_values(current[name]),
            )
            if ref_values is None or cur_values is None:
                skipped.append(f"column '{name}' skipped: numeric column holds non-numeric values")
                continue
            ref_col, cur_col = pd.Series(ref_values), pd.Series(cur_values)
        else:
            ref_col = reference[name].astype(str).where(reference[name].notna()).reset_index(drop=True)
            cur_col = current[name].astype(str).where(current[name].notna()).reset_index(drop=True)
        empty = [side for side, c in (("reference", ref_col), ("current", cur_col)) if not c.notna().any()]
        if empty:
            skipped.append(f"column '{name}' skipped: no non-null values in {' and '.join(empty)}")
            continue
        ref_out[name], cur_out[name], kept[name] = ref_col, cur_col, kind
    return pd.DataFrame(ref_out), pd.DataFrame(cur_out), kept, skipped


@functools.cache
def _register_own_stattests() -> None:
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    def numeric(kernel: Any) -> Any:
        def run(ref: pd.Series, cur: pd.Series, _kind: Any, threshold: float) -> tuple[float, bool]:
            score = kernel(np.sort(ref.to_numpy(dtype="float64")), np.sort(cur.to_numpy(dtype="float64")))
            return score, score >= threshold

        return run

    def chisquare(ref: pd.Series, cur: pd.Series, _kind: Any, threshold: float) -> tuple[float, bool]:
        score = stats.chisquare_pvalue(*stats.category_counts(ref, cur))
        return score, score < threshold

    own = [
        ("mlops_ks_statistic", "K-S statistic", ColumnType.Numerical, numeric(stats.ks_statistic)),
        ("mlops_psi_deciles", "PSI (reference deciles)", ColumnType.Numerical, numeric(stats.psi_numeric)),
        ("mlops_chisquare_homogeneity", "chi-square homogeneity p-value", ColumnType.Categorical, chisquare),
    ]
    for name, label, kind, func in own:
        register_stattest(StatTest(name=name, display_name=label, allowed_feature_types=[kind]), func)


def run_evidently_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, FeatureKind],
    spec_drift: DriftSpec,
    own_definitions: bool = True,
) -> EvidentlyDrift:
    """Evidently's DataDriftPreset with the spec's methods and thresholds set explicitly.

    `own_definitions=False` uses Evidently's built-in tests under the same method names
    (its 'ks' is then a p-value test): the benchmark's comparison with plain Evidently.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    num_method: str = spec_drift.numeric_method
    cat_method: str = spec_drift.categorical_method
    if own_definitions:
        _register_own_stattests()
        num_method = _OWN_NUMERIC.get(num_method, num_method)
        cat_method = _OWN_CATEGORICAL.get(cat_method, cat_method)
    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numeric"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    preset = DataDriftPreset(
        columns=list(kinds),
        num_method=num_method,
        num_threshold=spec_drift.numeric_threshold,
        cat_method=cat_method,
        cat_threshold=spec_drift.categorical_threshold,
        drift_share=spec_drift.warn_share,
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(current[list(kinds)], data_definition=definition),
        Dataset.from_pandas(reference[list(kinds)], data_definition=definition),
    )
    share, scores = math.nan, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config.get("type", "").endswith(":ValueDrift"):
            scores[config["column"]] = float(metric["value"])
    drifted = {}
    for column, score in scores.items():
        numeric = kinds[column] == "numeric"
        method = spec_drift.numeric_method if numeric else spec_drift.categorical_method
        threshold = spec_drift.numeric_threshold if numeric else spec_drift.categorical_threshold
        if method == "ks" and not own_definitions:
            drifted[column] = score <= threshold  # Evidently's built-in 'ks' scores a p-value
        else:
            drifted[column] = is_drifted(method, score, threshold)
    return EvidentlyDrift(snapshot, share, scores, drifted)


def save_html_atomically(snapshot: Any, path: Path) -> None:
    """Write next to `path`, then rename: a reader never sees a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        partial.write_text(report_html(snapshot, path.parent), encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def render_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, FeatureKind],
    spec_drift: DriftSpec,
    path: Path,
    sample_rows: int,
    seed: int,
) -> ReportInfo:
    """Evidently data-drift HTML for a seeded sample of at most `sample_rows` rows per side."""
    started = time.perf_counter()
    ref_sample = sample_frame(reference, sample_rows, seed)
    cur_sample = sample_frame(current, sample_rows, seed + 1)
    ref_ready, cur_ready, kept, skipped = prepare_columns(ref_sample, cur_sample, kinds)
    if not kept:
        raise ReportError(
            f"{path}: no column can go into the drift report: {'; '.join(skipped) or 'none given'}"
        )
    if ref_ready.empty or cur_ready.empty:
        raise ReportError(f"{path}: reference has {len(ref_ready)} rows, current {len(cur_ready)}; need both")
    result = run_evidently_drift(ref_ready, cur_ready, kept, spec_drift)
    save_html_atomically(result.snapshot, path)
    seconds = time.perf_counter() - started
    log.info("drift report %s: %d/%d rows, %.1f s", path, len(ref_ready), len(cur_ready), seconds)
    return ReportInfo(
        path, len(ref_ready), len(cur_ready), result.drift_share, seconds, tuple(skipped), dict(result.scores)
    )


@dataclass(frozen=True)
class PerformanceReportInfo:
    path: Path
    rows_current: int
    rows_reference: int  # 0 when no reference window was given
    metrics: Mapping[str, float]  # Evidently's headline numbers on the current sample
    seconds: float


def _labelled(frame: pd.DataFrame, target: str, prediction: str, task: Task, where: str) -> pd.DataFrame:
    missing = [c for c in (target, prediction) if c not in frame.columns]
    if missing:
        raise ReportError(f"{where} has no column(s) {missing} for the performance report")
    pair = frame[[target, prediction]].dropna()
    if pair.empty:
        raise ReportError(f"{where} has no row with both '{target}' and '{prediction}'")
    if task.is_classification:
        return pair.astype(str).reset_index(drop=True)
    for column in (target, prediction):
        values = stats.numeric_values(pair[column])
        if values is None:
            raise ReportError(f"{where}: regression column '{column}' holds non-numeric values")
        pair[column] = values
    return pair.dropna().reset_index(drop=True)


def render_performance_report(
    current: pd.DataFrame,
    task: Task,
    path: Path,
    sample_rows: int,
    seed: int,
    reference: pd.DataFrame | None = None,
    target: str = "target",
    prediction: str = "prediction",
    pos_label: str | None = None,
) -> PerformanceReportInfo:
    """Evidently Regression/ClassificationPreset HTML on a seeded sample of labelled rows."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.core.datasets import BinaryClassification, MulticlassClassification, Regression
    from evidently.presets import ClassificationPreset, RegressionPreset

    from mlops_pipelines.spec import Task as Tasks

    started = time.perf_counter()
    cur = _labelled(sample_frame(current, sample_rows, seed), target, prediction, task, "current")
    ref = None
    if reference is not None:
        ref = _labelled(sample_frame(reference, sample_rows, seed + 1), target, prediction, task, "reference")
    preset: Any
    if task is Tasks.REGRESSION:
        definition = DataDefinition(regression=[Regression(target=target, prediction=prediction)])
        preset = RegressionPreset()
    else:
        kind: Any = BinaryClassification if task is Tasks.BINARY else MulticlassClassification
        extra = {"pos_label": pos_label} if task is Tasks.BINARY and pos_label is not None else {}
        definition = DataDefinition(
            classification=[kind(target=target, prediction_labels=prediction, **extra)],
            categorical_columns=[target, prediction],
        )
        preset = ClassificationPreset()
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        None if ref is None else Dataset.from_pandas(ref, data_definition=definition),
    )
    metrics: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        name, value = metric["metric_name"].split("(", 1)[0], metric["value"]
        if isinstance(value, int | float):
            metrics[name] = float(value)
        elif isinstance(value, dict) and isinstance(value.get("mean"), int | float):
            metrics[name] = float(value["mean"])
    save_html_atomically(snapshot, path)
    seconds = time.perf_counter() - started
    return PerformanceReportInfo(path, len(cur), 0 if ref is None else len(ref), metrics, seconds)
