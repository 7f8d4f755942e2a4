"""The monitoring stage: data drift and, once labels arrive, performance, judged per partition.

`monitor_drift` and `monitor_performance` are what the `drift` and `performance` assets run
(and the benchmarks' plain path). Both compare against the champion the lineage hands on (a
`ChampionRef`): its training range and features version give the reference window, its
evaluated level and its performance estimator give what it is expected to reach, so neither
asks the registry who serves. Without a champion the reference is the first partitions and
there is no expectation.

The signals, and why each carries information:
- drift (`stage_drift`): each partition's rolling window against the reference, under
  thresholds calibrated on that reference (a window drifts only if it drifts more than windows
  inside the training period do), so weather moving week to week stops saturating the trigger;
- estimated performance (`stage_drift`, label-free): the champion's estimator on each window's
  rows against its evaluated level, so a shift is judged by what it does to the model;
- realized performance (`stage_performance`, once labels arrive): the window's metric against
  the estimate for the same rows, so harder rows are not mistaken for a worse model; KPI
  breaches the estimate foresaw are reported as explained and do not count.

A range run still judges every partition on its own: each gets one row in the result, with
`None` where there is no value (no verdict, no predictions, no estimator, no report), never a
sentinel. Both read with the features version they were handed, so a concurrent write cannot
change what a run compares. Performance scores each partition with the model that actually
scored it (the version on its logged batch rows), loaded by version.
"""

from __future__ import annotations

from mlops_pipelines.lib.monitoring.stage_drift import (
    SEVERITY,
    DriftReport,
    DriftRow,
    RenderedReport,
    ReportMode,
    drift_kinds,
    drift_row,
    monitor_drift,
    report_partition,
    severity,
)
from mlops_pipelines.lib.monitoring.stage_expectation import (
    EstimatorLoader,
    Expectation,
    ExpectationError,
    champion_expectation,
)
from mlops_pipelines.lib.monitoring.stage_performance import (
    NO_PREDICTIONS,
    SCORED,
    PerformanceReport,
    PerformanceRow,
    monitor_performance,
)

__all__ = [
    "NO_PREDICTIONS",
    "SCORED",
    "SEVERITY",
    "DriftReport",
    "DriftRow",
    "EstimatorLoader",
    "Expectation",
    "ExpectationError",
    "PerformanceReport",
    "PerformanceRow",
    "RenderedReport",
    "ReportMode",
    "champion_expectation",
    "drift_kinds",
    "drift_row",
    "monitor_drift",
    "monitor_performance",
    "report_partition",
    "severity",
]
