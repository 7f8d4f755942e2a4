"""Drift thresholds calibrated on the reference itself, so that a drift alarm carries information.

A fixed PSI of 0.2 says nothing about how much a week of weather differs from the weeks
around it: on bike_sharing it flagged 99 % of the weeks. The rule here: a window counts as
drifted only if it drifts more than windows inside the training period drift from the rest of
it, per column and overall.

How: slide a window of the monitored size over the reference partitions (step 1), score each
window against the rest of the reference with `compute_drift` (the spec's statistic, nothing
re-implemented), leaving out `gap` partitions on each side of the window: a monitored window
never touches its reference, while a window's neighbours share its weather (or its group), and
would make the inside of the reference look calmer than any monitored window can be.
A column's threshold is the spec's fixed one or `margin` x the internal bar (a high quantile of
the windows' scores, the max when too few windows resolve that quantile), whichever is
stricter. The warn/error shares rise above the share of columns the internal windows reach
under those thresholds; they never fall below the spec's.

Cost: (partitions - window + 1) `compute_drift` calls on the reference's rows, once per
reference (a champion), not per monitored partition: 22 calls, about 0.05 s, for bike_sharing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.lib.monitoring.drift import compute_drift, is_drifted

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.features import FeatureKind
    from mlops_pipelines.spec import DriftSpec


class CalibrationError(ValueError):
    """The reference cannot be calibrated on (a column or the partition column is missing, or
    values cannot be compared); the message names the problem."""


@dataclass(frozen=True)
class ColumnCalibration:
    column: str
    method: str
    fixed_threshold: float  # the spec's
    threshold: float  # what `compute_drift` applies: the stricter of fixed and calibrated
    internal_bar: float | None  # quantile (or max) of the windows' scores; None: never scored
    scored_windows: int


@dataclass(frozen=True)
class DriftCalibration:
    columns: tuple[ColumnCalibration, ...]
    warn_share: float
    error_share: float
    windows: int  # internal windows that got a verdict; 0 when the fixed thresholds apply
    window_partitions: int
    reference_partitions: int
    gap_partitions: int  # neighbours left out on each side of a window
    statistic: str  # "max" or "q0.95": how the internal bar was read off the windows' scores
    margin: float
    note: str | None = None  # why the fixed thresholds apply, when they do

    @property
    def calibrated(self) -> bool:
        return self.windows >= 2

    def threshold(self, column: str) -> float | None:
        """The threshold to apply to `column`; None for a column the calibration never saw."""
        return next((c.threshold for c in self.columns if c.column == column), None)


def _method_and_fixed(kind: FeatureKind, spec: DriftSpec) -> tuple[str, float]:
    if kind == "numeric":
        return spec.numeric_method, spec.numeric_threshold
    return spec.categorical_method, spec.categorical_threshold


def _fixed(
    kinds: Mapping[str, FeatureKind], spec: DriftSpec, window: int, partitions: int, statistic: str, note: str
) -> DriftCalibration:
    columns = []
    for name, kind in kinds.items():
        method, fixed = _method_and_fixed(kind, spec)
        columns.append(ColumnCalibration(name, method, fixed, fixed, None, 0))
    return DriftCalibration(
        tuple(columns),
        spec.warn_share,
        spec.error_share,
        0,
        window,
        partitions,
        0,
        statistic,
        spec.calibration_margin,
        note,
    )


def _statistic(spec: DriftSpec, partitions: int, window: int) -> str:
    """The max when the quantile is not resolvable from the independent windows there are.

    Step-1 windows overlap: 28 partitions hold only 4 disjoint weeks, and the 95th percentile
    of 4 draws is an interpolation towards their max anyway.
    """
    q = spec.calibration_quantile
    if q >= 1.0 or partitions // window < math.ceil(1 / (1 - q)):
        return "max"
    return f"q{q:g}"


def _bar(scores: Sequence[float], p_value: bool, statistic: str, q: float) -> float:
    values = np.asarray(scores, dtype=np.float64)
    if statistic == "max":
        return float(values.min() if p_value else values.max())
    return float(np.quantile(values, 1 - q if p_value else q))


def _threshold(method: str, fixed: float, bar: float, margin: float) -> float:
    if method == "chisquare":
        # A p-value shrinks exponentially with the evidence: the margin scales -log(p).
        return min(fixed, bar**margin)
    return max(fixed, bar * margin)


def _windows(keys: Sequence[str], window: int, gap: int) -> list[tuple[list[str], list[str]]]:
    """(window, rest) partition lists: each window against the reference minus it and its gap."""
    out = []
    for start in range(len(keys) - window + 1):
        rest = [*keys[: max(0, start - gap)], *keys[start + window + gap :]]
        out.append((list(keys[start : start + window]), rest))
    return out


def _check_columns(reference: pd.DataFrame, kinds: Mapping[str, FeatureKind]) -> None:
    missing = [c for c in (*kinds, PARTITION) if c not in reference.columns]
    if missing:
        raise CalibrationError(f"reference lacks column(s) {missing}: cannot calibrate drift thresholds")


def calibrate_drift(
    reference: pd.DataFrame,
    kinds: Mapping[str, FeatureKind],
    spec: DriftSpec,
    window_partitions: int,
    workers: int | None = 1,
) -> DriftCalibration:
    """Per-column thresholds and warn/error shares from the reference's own window-to-window drift.

    `reference` holds the feature columns and the partition column; `window_partitions` is the
    monitored window's size (`spec.current_window_partitions`). Fewer than 2 windows, or
    `spec.calibrate` off: the fixed thresholds, with a note saying why.
    """
    if window_partitions < 1:
        raise ValueError(f"window_partitions must be >= 1, got {window_partitions}")
    _check_columns(reference, kinds)
    keys = sorted(reference[PARTITION].dropna().unique().tolist())
    n, statistic = len(keys), _statistic(spec, len(keys), window_partitions)
    if not spec.calibrate:
        return _fixed(
            kinds, spec, window_partitions, n, statistic, "calibration off (drift.calibrate: false)"
        )
    if n - window_partitions + 1 < 2:
        note = (
            f"{n} reference partition(s) hold fewer than 2 windows of {window_partitions}: "
            "fixed thresholds apply"
        )
        return _fixed(kinds, spec, window_partitions, n, statistic, note)
    # Leave a window's neighbours out, but never shrink the rest below a window's worth of partitions.
    gap = min(window_partitions, max(0, (n - 2 * window_partitions) // 2))
    partition = reference[PARTITION]
    scores: list[dict[str, float]] = []
    for window, rest in _windows(keys, window_partitions, gap):
        result = compute_drift(
            reference[partition.isin(rest)], reference[partition.isin(window)], kinds, spec, workers=workers
        )
        if result.status == "invalid":
            raise CalibrationError(f"reference window {window[0]}..{window[-1]}: {'; '.join(result.reasons)}")
        if result.has_verdict:
            scores.append({c.column: c.score for c in result.columns})
    if len(scores) < 2:
        note = (
            f"{len(scores)} of {n - window_partitions + 1} reference windows reached drift.min_rows: "
            "fixed thresholds apply"
        )
        return _fixed(kinds, spec, window_partitions, n, statistic, note)
    columns = tuple(_column(name, kind, scores, spec, statistic) for name, kind in kinds.items())
    warn, error = _shares(columns, scores, spec, statistic)
    return DriftCalibration(
        columns, warn, error, len(scores), window_partitions, n, gap, statistic, spec.calibration_margin
    )


def _column(
    name: str, kind: FeatureKind, scores: list[dict[str, float]], spec: DriftSpec, statistic: str
) -> ColumnCalibration:
    method, fixed = _method_and_fixed(kind, spec)
    seen = [s[name] for s in scores if name in s]
    if not seen:
        return ColumnCalibration(name, method, fixed, fixed, None, 0)
    bar = _bar(seen, method == "chisquare", statistic, spec.calibration_quantile)
    return ColumnCalibration(
        name, method, fixed, _threshold(method, fixed, bar, spec.calibration_margin), bar, len(seen)
    )


def _shares(
    columns: tuple[ColumnCalibration, ...], scores: list[dict[str, float]], spec: DriftSpec, statistic: str
) -> tuple[float, float]:
    """Warn at one column more than the internal windows drift in; never below the spec's shares."""
    by_name = {c.column: c for c in columns}
    internal = []
    for window in scores:
        drifted = [is_drifted(by_name[c].method, s, by_name[c].threshold) for c, s in window.items()]
        internal.append(sum(drifted) / len(drifted))
    bar = _bar(internal, False, statistic, spec.calibration_quantile)
    if bar <= 0.0:
        return spec.warn_share, spec.error_share
    warn = max(spec.warn_share, min(1.0, bar + 1 / len(columns)))
    return warn, max(spec.error_share, min(1.0, warn + max(0.0, spec.error_share - spec.warn_share)))
