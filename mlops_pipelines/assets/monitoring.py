"""Monitoring per time partition: data drift, and performance once labels have arrived.

The stage work is `lib.monitoring.stage` (`monitor_drift`, `monitor_performance`); both take
the `champion` asset's value (a `ChampionRef`) as an input, so the reference window is the
champion's own training window, the expectation is its own estimator and evaluated level, and
each materialization names the champion it used.

A range run (single-run backfill) still judges every partition on its own, and records it on
that partition (`assets.partitioned`, `assets.monitoring_metadata`): its own materialization
metadata (what the Partitions and Plots tabs show), its own check evaluation (the checks are
partitioned: pass, warn or fail per partition) and its own AssetObservation, which the
retraining sensor reads from the event log (drift: `status`, `drift_share`,
`estimated_degraded`; performance: `kpi_breach`, `realized_degraded`; a verdict is True, False
or None for none). Drift thresholds are calibrated on the reference, and each partition carries
the thresholds applied. Labels arrive `monitoring.label_delay_partitions` after their
partition, so schedules (and the demo) materialize performance for older partitions than the
daily cycle. The drift check WARNs on moderate drift and ERRORs on severe drift; the KPI check
ERRORs on a breach the champion's expectation for the same rows does not explain.
"""

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, check_key
from mlops_pipelines.assets.monitoring_metadata import (
    drift_by_partition,
    drift_verdicts,
    kpi_verdicts,
    performance_by_partition,
    performance_observation,
)
from mlops_pipelines.assets.partitioned import (
    add_partition_metadata,
    partition_check_results,
    partitioned_check,
)
from mlops_pipelines.assets.scoring import champion_input
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.monitoring.stage import ReportMode
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec


class DriftConfig(dg.Config):
    # Evidently renders charts inside run(): keep it off the hot path of long replays.
    report: ReportMode = "always"


def build_drift_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key, partitions = asset_key(spec, names.DRIFT), partitions_for(spec)

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            names.FEATURES: dg.AssetIn(asset_key(spec, names.FEATURES)),
            names.CHAMPION: champion_input(spec),
        },
        kinds={"evidently", "pandas", "mlflow"},
        description=(
            f"Data drift of each partition's rolling window ({spec.drift.current_window_partitions} partition(s)) "
            f"against the champion's training data: {spec.drift.numeric_method} / {spec.drift.categorical_method}, "
            "thresholds calibrated on that data; and the champion's label-free estimated performance "
            f"over the last {spec.retraining.performance_window_partitions} partition(s) it did not train on."
        ),
        check_specs=[
            partitioned_check(
                names.DRIFT_CHECK,
                key,
                partitions,
                "Per partition: WARN on moderate drift, ERROR on severe drift.",
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
        by_partition = drift_by_partition(report)
        for partition, metadata in by_partition.items():
            context.log_event(dg.AssetObservation(key, partition=partition, metadata=metadata))
        add_partition_metadata(context, key, by_partition)
        yield dg.Output(report)
        yield from partition_check_results(
            context, check_key(spec, names.DRIFT, names.DRIFT_CHECK), drift_verdicts(report)
        )

    return drift


def build_performance_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key, partitions = asset_key(spec, names.PERFORMANCE), partitions_for(spec)

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            names.PREDICTIONS: dg.AssetIn(asset_key(spec, names.PREDICTIONS)),
            names.FEATURES: dg.AssetIn(asset_key(spec, names.FEATURES)),
            names.CHAMPION: champion_input(spec),
        },
        kinds={"scikitlearn", "pandas"},
        description=(
            f"Metrics of each labelled partition's rolling window ({spec.retraining.performance_window_partitions} "
            "partition(s) scored by the same version; a classifier's reaches back until its rarer class has "
            f"{spec.retraining.performance_min_rows} rows) against late labels and against what the champion "
            "was expected to reach on the same rows, target drift and KPI breaches."
        ),
        check_specs=[
            partitioned_check(
                names.KPI_CHECK,
                key,
                partitions,
                "Per partition: ERROR when a spec KPI is breached beyond what the expectation explains.",
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
        add_partition_metadata(context, key, performance_by_partition(report))
        yield dg.Output(report)
        yield from partition_check_results(
            context, check_key(spec, names.PERFORMANCE, names.KPI_CHECK), kpi_verdicts(report)
        )

    return performance
