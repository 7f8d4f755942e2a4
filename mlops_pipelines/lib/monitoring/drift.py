"""Exact drift statistics between a reference window and a current window.

Every statistic runs on all rows (no sampling) with vectorised numpy: one sort per numeric
column, one factorize (or the categorical codes) per categorical column. Bad input never
crashes and never yields a verdict: it comes back as 'insufficient_data' or 'invalid'
with reasons that name the column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import pandas as pd

from mlops_pipelines.lib.monitoring import drift_stats as stats

if TYPE_CHECKING:
    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.spec import DriftSpec

DriftStatus = Literal["ok", "warn", "error", "insufficient_data", "invalid"]
VERDICT_STATUSES: tuple[DriftStatus, ...] = ("ok", "warn", "error")


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: FeatureKind
    method: str
    score: float
    threshold: float
    drifted: bool
    ref_rows: int  # non-null values compared
    cur_rows: int
    null_share_ref: float
    null_share_cur: float
    calibrated: bool = False  # `threshold` came from a DriftCalibration, not the spec


@dataclass(frozen=True)
class DriftResult:
    columns: tuple[ColumnDrift, ...]
    drift_share: float  # NaN when there is no verdict
    drifted_columns: tuple[str, ...]
    status: DriftStatus
    reasons: tuple[str, ...]
    n_reference: int
    n_current: int
    skipped_columns: tuple[str, ...] = ()
    # The drift shares the status was judged against (calibrated or the spec's); None: no verdict.
    warn_share: float | None = None
    error_share: float | None = None

    @property
    def has_verdict(self) -> bool:
        return self.status in VERDICT_STATUSES


class Calibration(Protocol):
    """Thresholds calibrated on the reference (lib/monitoring/calibration.DriftCalibration); a
    Protocol so that this module does not import the one that builds on it."""

    @property
    def calibrated(self) -> bool: ...
    @property
    def windows(self) -> int: ...
    @property
    def note(self) -> str | None: ...
    @property
    def warn_share(self) -> float: ...
    @property
    def error_share(self) -> float: ...
    def threshold(self, column: str) -> float | None: ...


@dataclass(frozen=True)
class DataQuality:
    rows: int
    null_share: Mapping[str, float]
    missing_columns: tuple[str, ...]
    all_null_columns: tuple[str, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        found = [f"column '{c}' is missing" for c in self.missing_columns]
        found += [f"column '{c}' is entirely null" for c in self.all_null_columns]
        return tuple(found)


def data_quality(
    frame: pd.DataFrame, kinds: Mapping[str, FeatureKind], sparse: Collection[str] = ()
) -> DataQuality:
    """Row count and null share of each expected column (cheap: one isna pass). A `sparse`
    column (the spec's: mostly null) null throughout is normal, not a problem."""
    present = [c for c in kinds if c in frame.columns]
    rows = len(frame)
    nulls = frame[present].isna().sum().to_dict() if present else {}
    share = {c: (float(nulls[c]) / rows if rows else 1.0) for c in present}
    return DataQuality(
        rows=rows,
        null_share=share,
        missing_columns=tuple(c for c in kinds if c not in frame.columns),
        all_null_columns=tuple(c for c in present if rows and nulls[c] == rows and c not in sparse),
    )


def _numeric_score(method: str, ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    if method == "psi":
        return stats.psi_numeric(ref_sorted, cur_sorted)
    if method == "ks":
        return stats.ks_statistic(ref_sorted, cur_sorted)
    if method == "wasserstein":
        return stats.wasserstein_normed(ref_sorted, cur_sorted)
    raise ValueError(f"unknown numeric drift method '{method}'")


def _categorical_score(method: str, ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    if method == "psi":
        return stats.psi(stats.proportions(ref_counts), stats.proportions(cur_counts))
    if method == "jensenshannon":
        return stats.jensenshannon_distance(ref_counts, cur_counts)
    if method == "chisquare":
        return stats.chisquare_pvalue(ref_counts, cur_counts)
    raise ValueError(f"unknown categorical drift method '{method}'")


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """A p-value drifts below its threshold; a distance drifts at or above it."""
    return score < threshold if method == "chisquare" else score >= threshold


@dataclass(frozen=True)
class _Outcome:
    drift: ColumnDrift | None = None
    skipped: str | None = None  # why the column was left out of the verdict
    invalid: str | None = None  # why the whole comparison has no verdict


def _compare_column(
    name: str,
    kind: FeatureKind,
    reference: pd.Series,
    current: pd.Series,
    spec: DriftSpec,
    calibrated: float | None = None,
) -> _Outcome:
    if kind == "numeric":
        ref_values, cur_values = stats.numeric_values(reference), stats.numeric_values(current)
        if ref_values is None or cur_values is None:
            side, dtype = ("reference", reference.dtype) if ref_values is None else ("current", current.dtype)
            return _Outcome(invalid=f"numeric column '{name}' holds non-numeric values ({dtype}) in {side}")
        # Boolean indexing copies, so the in-place sorts never touch the caller's frame.
        ref_sorted, cur_sorted = ref_values[~np.isnan(ref_values)], cur_values[~np.isnan(cur_values)]
        ref_sorted.sort()
        cur_sorted.sort()
        ref_rows, cur_rows = len(ref_sorted), len(cur_sorted)
    else:
        ref_counts, cur_counts = stats.category_counts(reference, current)
        ref_rows, cur_rows = int(ref_counts.sum()), int(cur_counts.sum())
    if cur_rows == 0 or ref_rows == 0:
        side = "current" if cur_rows == 0 else "reference"
        return _Outcome(skipped=f"column '{name}' skipped: entirely null in {side} (data-quality problem)")
    if min(ref_rows, cur_rows) < spec.min_rows:
        return _Outcome(
            skipped=f"column '{name}' skipped: {ref_rows} reference / {cur_rows} current non-null values, "
            f"below drift.min_rows {spec.min_rows}"
        )
    numeric = kind == "numeric"
    method = spec.numeric_method if numeric else spec.categorical_method
    threshold = spec.numeric_threshold if numeric else spec.categorical_threshold
    threshold = threshold if calibrated is None else calibrated
    score = (
        _numeric_score(method, ref_sorted, cur_sorted)
        if numeric
        else _categorical_score(method, ref_counts, cur_counts)
    )
    drift = ColumnDrift(
        column=name,
        kind=kind,
        method=method,
        score=score,
        threshold=threshold,
        drifted=is_drifted(method, score, threshold),
        ref_rows=ref_rows,
        cur_rows=cur_rows,
        null_share_ref=1.0 - ref_rows / len(reference),
        null_share_cur=1.0 - cur_rows / len(current),
        calibrated=calibrated is not None,
    )
    return _Outcome(drift=drift)


def _no_verdict(status: DriftStatus, reasons: list[str], n_ref: int, n_cur: int) -> DriftResult:
    return DriftResult((), math.nan, (), status, tuple(reasons), n_ref, n_cur)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, FeatureKind],
    spec_drift: DriftSpec,
    workers: int | None = None,
    calibration: Calibration | None = None,
) -> DriftResult:
    """Per-column drift of `current` against `reference` and the window's status.

    Columns run on `workers` threads (default: one per CPU, at most 4): numpy sorts release
    the GIL, so this roughly divides the wall time by the core count. A `calibration`
    (lib/monitoring/calibration.py) replaces each column's fixed threshold and the warn/error
    shares with the ones calibrated on the reference; a column it never saw keeps the spec's.
    """
    n_ref, n_cur = len(reference), len(current)
    if n_ref < spec_drift.min_rows or n_cur < spec_drift.min_rows:
        reason = f"reference has {n_ref} rows, current {n_cur}; drift.min_rows is {spec_drift.min_rows}"
        return _no_verdict("insufficient_data", [reason], n_ref, n_cur)
    if not kinds:  # every feature in drift.exclude or derived from the time: drift is not watched
        reason = "no column to compare: every feature is in drift.exclude or derived from the time"
        return _no_verdict("insufficient_data", [reason], n_ref, n_cur)
    missing = [
        f"column '{c}' is missing from the {side}"
        for side, frame in (("reference", reference), ("current", current))
        for c in kinds
        if c not in frame.columns
    ]
    if missing:
        return _no_verdict("invalid", missing, n_ref, n_cur)

    # Columns are pulled out here: pandas' column cache is not safe to fill from several threads.
    pairs = [(name, kind, reference[name], current[name]) for name, kind in kinds.items()]
    used = calibration if calibration is not None and calibration.calibrated else None
    bars = {name: used.threshold(name) if used else None for name in kinds}
    threads = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(
            pool.map(lambda p: _compare_column(p[0], p[1], p[2], p[3], spec_drift, bars[p[0]]), pairs)
        )
    invalid = [o.invalid for o in outcomes if o.invalid]
    skipped = [o.skipped for o in outcomes if o.skipped]
    if invalid:
        return _no_verdict("invalid", invalid + skipped, n_ref, n_cur)
    columns = tuple(o.drift for o in outcomes if o.drift)
    skipped_names = tuple(name for name, o in zip(kinds, outcomes, strict=True) if o.skipped)
    if not columns:
        return _no_verdict("insufficient_data", ["no column could be compared", *skipped], n_ref, n_cur)
    drifted = tuple(c.column for c in columns if c.drifted)
    share = len(drifted) / len(columns)
    warn_share, error_share = (
        (calibration.warn_share, calibration.error_share)
        if calibration
        else (spec_drift.warn_share, spec_drift.error_share)
    )
    status: DriftStatus = "ok"
    if share >= error_share:
        status = "error"
    elif share >= warn_share:
        status = "warn"
    summary = f"{len(drifted)} of {len(columns)} columns drifted (share {share:.3f})"
    if calibration:
        summary += (
            f"; calibrated on {calibration.windows} reference windows"
            if calibration.calibrated
            else f"; {calibration.note}"
        )
    reasons = (summary, *skipped)
    return DriftResult(
        columns, share, drifted, status, reasons, n_ref, n_cur, skipped_names, warn_share, error_share
    )


def _single(
    name: str, reference: pd.Series, current: pd.Series, kind: FeatureKind, spec_drift: DriftSpec
) -> DriftResult:
    return compute_drift(
        reference.to_frame(name), current.to_frame(name), {name: kind}, spec_drift, workers=1
    )


def prediction_drift(
    reference: pd.Series, current: pd.Series, kind: FeatureKind, spec_drift: DriftSpec
) -> DriftResult:
    """Drift of the model's output: one column named 'prediction', same methods as features."""
    return _single("prediction", reference, current, kind, spec_drift)


def target_drift(
    reference: pd.Series, current: pd.Series, kind: FeatureKind, spec_drift: DriftSpec
) -> DriftResult:
    """Drift of the label distribution: one column named after the series (or 'target')."""
    name = str(reference.name) if reference.name is not None else "target"
    return _single(name, reference, current, kind, spec_drift)
