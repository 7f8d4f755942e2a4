"""Monitoring per time partition: data drift (exact statistics + Evidently report) and, once
labels have arrived, performance, target drift and prediction drift.

A range run (single-run backfill) still judges every partition on its own: each gets an
AssetObservation with its numbers, which the Dagster UI plots over time and which the
retraining sensor reads from the event log.
"""

from typing import Any, Literal

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.lib.frames import PARTITION, TableSlice
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec

SEVERITY = {"ok": 0, "insufficient_data": 0, "warn": 1, "invalid": 2, "error": 2}


class DriftConfig(dg.Config):
    # Evidently renders charts inside run(): keep it off the hot path of long replays.
    report: Literal["always", "drifted", "never"] = "always"


def _reference(spec: ProjectSpec, lakehouse: Lakehouse, cfg: Any, version: int) -> Any:
    from mlops_pipelines.lib.monitoring.windows import reference_window
    from mlops_pipelines.lib.registry.aliases import get_alias

    champion = get_alias(cfg, spec.name, "champion")
    tags = champion.tags if champion else {}
    keys = lakehouse.partitions(spec.name, "features", version)
    features_version = tags.get("mlops.features_version")
    return (
        champion,
        reference_window(
            keys,
            spec,
            champion.version if champion else None,
            tags.get("mlops.train_partitions"),
            int(features_version) if features_version else None,
            version,
        ),
        keys,
    )


def _check(asset: dg.AssetKey, name: str, worst: str, rows: list[dict[str, Any]]) -> dg.AssetCheckResult:
    level = SEVERITY.get(worst, 2)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=level == 0,
        severity=dg.AssetCheckSeverity.WARN if level <= 1 else dg.AssetCheckSeverity.ERROR,
        description=f"worst status: {worst}",
        metadata={"partitions": md_table(rows)},
    )


def build_drift_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, "drift")

    @dg.asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_for(spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={"features": dg.AssetIn(asset_key(spec, "features"))},
        kinds={"evidently", "pandas"},
        description=(
            f"Data drift of each partition's rolling window ({spec.drift.current_window_partitions} partition(s)) "
            f"against the champion's training data: {spec.drift.numeric_method} / {spec.drift.categorical_method}."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "drift", asset=key, description="WARN on moderate drift, ERROR on severe drift."
            )
        ],
    )
    def drift(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        features: TableSlice,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
        reports: ReportStore,
    ):
        from mlops_pipelines.lib.features import feature_kinds
        from mlops_pipelines.lib.monitoring.drift import compute_drift, data_quality
        from mlops_pipelines.lib.monitoring.windows import current_window

        champion, reference, keys = _reference(spec, lakehouse, tracking.config(), features.version)
        kinds = {c: k for c, k in feature_kinds(spec).items() if c not in spec.drift.exclude}
        ref_rows = lakehouse.read(
            spec.name,
            "features",
            keys=list(reference.partitions),
            version=reference.features_version,
            columns=list(kinds),
        )
        windows = {
            p: current_window(keys, p, spec.drift.current_window_partitions) for p in features.partitions
        }
        needed = sorted({k for w in windows.values() for k in w})
        rows = lakehouse.read(
            spec.name, "features", keys=needed, version=features.version, columns=[*kinds, PARTITION]
        )
        summary, table = {}, []
        for partition, window in windows.items():
            current = rows[rows[PARTITION].isin(window)][list(kinds)]
            result = compute_drift(ref_rows, current, kinds, spec.drift)
            quality = data_quality(rows[rows[PARTITION] == partition][list(kinds)], kinds)
            summary[partition] = result
            share = result.drift_share if result.has_verdict else None
            numbers = {
                "status": result.status,
                "drift_share": share,
                "drifted_columns": ", ".join(result.drifted_columns),
                "rows_current": result.n_current,
                "rows_reference": result.n_reference,
                "reference": reference.origin,
                "quality_problems": "; ".join(quality.problems),
                **{f"score_{c.column}": round(c.score, 5) for c in result.columns},
            }
            context.log_event(
                dg.AssetObservation(
                    key, partition=partition, metadata={k: v for k, v in numbers.items() if v is not None}
                )
            )
            table.append(
                {
                    "partition": partition,
                    "status": result.status,
                    "drift_share": share,
                    "drifted": ", ".join(result.drifted_columns) or "-",
                    "reasons": "; ".join(result.reasons),
                }
            )
        worst = max((r.status for r in summary.values()), key=lambda s: SEVERITY.get(s, 2), default="ok")
        metadata: dict[str, Any] = {
            "partitions": md_table(table),
            "worst_status": worst,
            "reference": reference.origin,
            "champion_version": champion.version if champion else "none",
        }
        last = features.partitions[-1]
        metadata.update(
            {
                "drift_share": summary[last].drift_share if summary[last].has_verdict else -1.0,
                "status": summary[last].status,
            }
        )
        target = _report_partition(config.report, summary, SEVERITY)
        if target is not None:
            from mlops_pipelines.lib.monitoring.reports import render_drift_report

            current = rows[rows[PARTITION].isin(windows[target])][list(kinds)]
            path = reports.path(spec.name, "drift", f"{target}.html")
            info = render_drift_report(
                ref_rows, current, kinds, spec.drift, path, spec.drift.report_sample_rows, seed=0
            )
            metadata["evidently_report"] = dg.MetadataValue.url(reports.link(info.path))
            metadata["evidently_drift_share"] = info.evidently_drift_share
        yield dg.Output(summary, metadata=metadata)
        yield _check(key, "drift", worst, table)

    return drift


def _report_partition(mode: str, summary: dict[str, Any], severity: dict[str, int]) -> str | None:
    """At most one report per run, so the cost is bounded whatever the range."""
    if mode == "never" or not summary:
        return None
    drifted = [p for p, r in summary.items() if severity.get(r.status, 2) >= 1 and r.has_verdict]
    if drifted:
        return drifted[-1]
    if mode == "always":
        last = list(summary)[-1]
        return last if summary[last].has_verdict else None
    return None
