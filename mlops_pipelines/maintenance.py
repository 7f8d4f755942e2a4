"""The per-project maintenance job and what it reads from Dagster: pins and linked reports.

(No `from __future__ import annotations`: Dagster reads the op's config class from its annotation.)

One op calls `lib.maintenance.stage.maintain_project`, then purges the model files of retired
versions (`lib.registry.artifact_purge`, unless `promotion.purge_retired_models` is off). What it passes: the Delta versions
registered models pin (from MLflow) and the drift reports promotion decisions link to (the
partition that triggered each promoted retrain, from the champion materializations and their
runs' trigger tag). It records what it freed as the op's output metadata, visible in the UI.
It also rejects the promotions left waiting for approval past their expiry (recorded and
alerted), so an idle project's stale request does not wait for the next champion run.
"""

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.resources.alerts import AlertSink
from mlops_pipelines.resources.lakehouse import Lakehouse
from mlops_pipelines.resources.reports import ReportStore
from mlops_pipelines.resources.tracking import MlflowTracking
from mlops_pipelines.spec import ProjectSpec

DECISIONS_READ = 10_000  # champion materializations read per maintenance run (each is one decision)


class MaintenanceConfig(dg.Config):
    keep_reports: int = 5  # per report kind, the newest N partitions' reports; linked ones on top
    min_retention_hours: int = 168  # unpinned Delta files removed less than this long ago are kept


def maintenance_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.MAINTENANCE_JOB)


def linked_reports(instance: dg.DagsterInstance, project: str) -> set[str]:
    """Partitions whose drift report a promotion decision links: the trigger of each promoted retrain."""
    key = dg.AssetKey([project, names.CHAMPION])
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=DECISIONS_READ)
    linked: set[str] = set()
    for record in records.records:
        materialization = record.event_log_entry.asset_materialization
        verdict = materialization.metadata.get(names.META_VERDICT) if materialization else None
        if getattr(verdict, "value", verdict) != "promote":
            continue
        run = instance.get_run_by_id(record.run_id)
        trigger = run.tags.get(names.TRIGGER_TAG) if run else None
        if trigger:
            linked.add(trigger)
    return linked


def build_maintenance_job(spec: ProjectSpec) -> dg.JobDefinition:
    @dg.op(name=names.scoped(spec.name, names.MAINTENANCE_OP), out=dg.Out(dg.Nothing))
    def maintain(
        context: dg.OpExecutionContext,
        config: MaintenanceConfig,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
        reports: ReportStore,
        alerts: AlertSink,
    ) -> dg.Output[None]:
        from mlops_pipelines.lib.maintenance.pins import model_pins
        from mlops_pipelines.lib.maintenance.stage import maintain_project
        from mlops_pipelines.lib.promotion.manual import expire_stale
        from mlops_pipelines.lib.registry.artifact_purge import purge_retired_models
        from mlops_pipelines.lib.stores import DeltaTables

        result = maintain_project(
            spec.name,
            DeltaTables(lakehouse.resolved_root(), lakehouse.storage_options()),
            reports.project_dir(spec.name).parent,
            model_pins(tracking.config(), spec.name),
            linked_reports(context.instance, spec.name),
            config.keep_reports,
            config.min_retention_hours,
        )
        metadata: dict[str, Any] = {
            names.META_LAKE_BYTES_FREED: result.lake_bytes_freed,
            names.META_REPORT_BYTES_FREED: result.report_bytes_freed,
            names.META_REPORTS_DELETED: len(result.reports_deleted),
            names.META_KEPT_VERSIONS: "; ".join(
                f"{t.table.rsplit('/', 1)[-1]}: {list(t.kept_versions)}"
                for t in result.tables
                if t.kept_versions
            ),
        }
        purge = (
            purge_retired_models(tracking.config(), spec.name, tracking.lock_path(spec.name))
            if spec.promotion.purge_retired_models
            else None
        )
        metadata[names.META_MODELS_PURGED] = ", ".join(p.version for p in purge.purged) if purge else None
        metadata[names.META_MODEL_BYTES_FREED] = purge.bytes_freed if purge else 0
        expired = expire_stale(spec, tracking.config(), tracking.lock_path(spec.name), alerts)
        metadata[names.META_EXPIRED_APPROVALS] = ", ".join(expired) or None
        context.log.info(f"{spec.name}: deleted reports {list(result.reports_deleted)}")
        return dg.Output(None, metadata=metadata)

    @dg.job(
        name=maintenance_job_name(spec),
        description=(
            f"Compact and vacuum {spec.name}'s Delta tables (pinned versions kept), apply report retention "
            "and delete the model files of retired versions (promotion.purge_retired_models)."
        ),
    )
    def maintenance() -> None:
        maintain()

    return maintenance


def build_maintenance_schedule(spec: ProjectSpec, job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """Daily at 03:17 (after the night's partitions, off the hour other schedules favour)."""
    return dg.ScheduleDefinition(
        name=names.scoped(spec.name, names.MAINTENANCE_SCHEDULE),
        job=job,
        cron_schedule="17 3 * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Compact and vacuum {spec.name}'s tables (pinned versions kept); report retention.",
    )
