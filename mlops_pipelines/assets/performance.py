"""Performance once labels arrive: the logged predictions of a partition joined with its labels.

Labels arrive `monitoring.label_delay_partitions` after their partition, so schedules (and the
demo) materialize this asset for older partitions than the daily cycle. The KPI check turns
a breach into an ERROR, which the retraining sensor reads as a trigger.
"""

from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.assets.monitoring import _reference
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking
from mlops_pipelines.spec import ProjectSpec


def build_performance_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, "performance")

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            "predictions": dg.AssetIn(asset_key(spec, "predictions")),
            "features": dg.AssetIn(asset_key(spec, "features")),
        },
        kinds={"scikitlearn", "pandas"},
        description="Metrics of the logged predictions against late labels, target drift and KPI breaches.",
        check_specs=[dg.AssetCheckSpec("kpis", asset=key, description="ERROR when a spec KPI is breached.")],
    )
    def performance(
        context: dg.AssetExecutionContext,
        predictions: TableSlice,
        features: TableSlice,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
    ):
        from mlops_pipelines.lib.evaluation.holdout import check_kpis, evaluate_model
        from mlops_pipelines.lib.monitoring.drift import target_drift
        from mlops_pipelines.lib.monitoring.windows import current_window, kpi_breaches
        from mlops_pipelines.lib.registry.model_loading import load_model
        from mlops_pipelines.lib.training.window import split_features

        cfg = tracking.config()
        _, reference, keys = _reference(spec, lakehouse, cfg, features.version)
        target_kind = "categorical" if spec.task.is_classification else "numeric"
        ref_target = lakehouse.read(
            spec.name,
            "features",
            keys=list(reference.partitions),
            version=reference.features_version,
            columns=[spec.target],
        )[spec.target]
        logged = (
            lakehouse.read_slice(predictions, columns=[PARTITION, "model_version", "route"])
            if predictions.version >= 0
            else None
        )
        windows = {
            p: current_window(keys, p, spec.drift.current_window_partitions) for p in features.partitions
        }
        rows = lakehouse.read(
            spec.name,
            "features",
            keys=sorted({k for w in windows.values() for k in w}),
            version=features.version,
        )
        models: dict[str, Any] = {}
        table: list[dict[str, Any]] = []
        worst_breach = False
        for partition, window in windows.items():
            scored = (
                logged[(logged[PARTITION] == partition) & (logged["route"] == "batch")]
                if logged is not None
                else None
            )
            if scored is None or scored.empty:
                table.append({"partition": partition, "status": "no predictions (no champion yet)"})
                continue
            version = str(scored["model_version"].iloc[0])
            if version not in models:
                models[version] = load_model(cfg, spec.name, version).model.get_raw_model()
            labelled = split_features(rows[rows[PARTITION].isin(window)], spec)
            result = evaluate_model(
                models[version],
                labelled.features,
                labelled.target,
                spec,
                context=labelled.context,
                importance_rows=0,
            )
            breaches = kpi_breaches(check_kpis(result, spec))
            target = target_drift(ref_target, labelled.target, target_kind, spec.drift)  # type: ignore[arg-type]
            numbers: dict[str, Any] = {
                "model_version": version,
                "rows": result.n_rows,
                **{k: float(v) for k, v in result.metrics.items()},
                "kpi_breach": bool(breaches),
                "kpi_breaches": "; ".join(breaches),
                "target_drift_status": target.status,
            }
            if target.columns:
                numbers["target_drift_score"] = float(target.columns[0].score)
            context.log_event(dg.AssetObservation(key, partition=partition, metadata=numbers))
            worst_breach = worst_breach or bool(breaches)
            table.append(
                {
                    "partition": partition,
                    "model": version,
                    spec.training.primary_metric: round(
                        result.metrics.get(spec.training.primary_metric, float("nan")), 4
                    ),
                    "breaches": "; ".join(breaches) or "-",
                    "target_drift": target.status,
                }
            )
        yield dg.Output(table, metadata={"partitions": md_table(table), "kpi_breach": worst_breach})
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="kpis",
            passed=not worst_breach,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"partitions": md_table(table)},
        )

    return performance
