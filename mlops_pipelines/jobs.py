"""Jobs per project: the data stage, the daily cycle, the late-label cycle, retraining and rollback."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import ProjectSpec

DATA_ASSETS = (names.RAW, names.VALIDATED, names.QUARANTINE, names.FEATURES)
DAILY_ASSETS = (*DATA_ASSETS, names.PREDICTIONS, names.DRIFT)
LABELS_ASSETS = (names.PERFORMANCE,)
RETRAIN_ASSETS = (names.MODEL, names.EVALUATION, names.CHAMPION)


def data_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.DATA_JOB)


def daily_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.DAILY_JOB)


def labels_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.LABELS_JOB)


def retrain_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.RETRAIN_JOB)


def rollback_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.ROLLBACK_JOB)


def approval_job_name(spec: ProjectSpec) -> str:
    return names.scoped(spec.name, names.APPROVAL_JOB)


def _champion_config(spec: ProjectSpec, config: dict[str, Any]) -> dict[str, Any]:
    return {"ops": {names.scoped(spec.name, names.CHAMPION): {"config": config}}}


def rollback_run_config(
    spec: ProjectSpec,
    to_version: str | None = None,
    requested_by: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The champion asset's config that selects a rollback instead of the gate (one step back, or
    to `to_version`); who asked and why go into the audit trail."""
    config: dict[str, Any] = {"action": "rollback"}
    extra = {"to_version": to_version, "requested_by": requested_by, "reason": reason}
    return _champion_config(spec, {**config, **{k: v for k, v in extra.items() if v is not None}})


def approval_run_config(
    spec: ProjectSpec, version: str | None = None, requested_by: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The champion asset's config for a person's verdict on a pending promotion (the UI's
    launchpad starts from this: fill in version, requested_by and reason; reject: action 'reject')."""
    return _champion_config(
        spec, {"action": "approve", "version": version, "requested_by": requested_by, "reason": reason}
    )


def serial_tags(spec: ProjectSpec) -> dict[str, str]:
    """Retrain and rollback runs of one project carry one value: a deployed instance runs one at a time."""
    return {names.SERIAL_TAG: names.scoped(spec.name, names.SERIAL_MODEL_SUFFIX)}


def _keys(spec: ProjectSpec, names: tuple[str, ...]) -> dg.AssetSelection:
    return dg.AssetSelection.keys(*[[spec.name, n] for n in names])


def build_project_jobs(spec: ProjectSpec) -> list[dg.UnresolvedAssetJobDefinition]:
    partitions = partitions_for(spec)
    return [
        dg.define_asset_job(
            data_job_name(spec),
            selection=_keys(spec, DATA_ASSETS),
            partitions_def=partitions,
            description=f"Ingest, validate and build features for {spec.name}, per partition.",
        ),
        dg.define_asset_job(
            daily_job_name(spec),
            selection=_keys(spec, DAILY_ASSETS),
            partitions_def=partitions,
            description=f"The daily cycle of {spec.name}: ingest, validate, features, score with the champion, drift.",
        ),
        dg.define_asset_job(
            labels_job_name(spec),
            selection=_keys(spec, LABELS_ASSETS),
            partitions_def=partitions,
            description=f"Join late labels of {spec.name} to logged predictions: performance and KPI checks.",
        ),
        dg.define_asset_job(
            retrain_job_name(spec),
            selection=_keys(spec, RETRAIN_ASSETS),
            # Run monitoring fails a retrain past this, in every mode (run_limits.py).
            tags={**serial_tags(spec), names.MAX_RUNTIME_TAG: str(spec.retraining.max_runtime_minutes * 60)},
            description=f"Train, evaluate and (if the gate passes) promote a new {spec.name} model.",
        ),
        # A rollback is a lineage event of the champion asset, under the promotion lock and pool.
        dg.define_asset_job(
            rollback_job_name(spec),
            selection=_keys(spec, (names.CHAMPION,)),
            config=rollback_run_config(spec),
            tags={names.KIND_TAG: names.KIND_ROLLBACK, **serial_tags(spec)},
            description=f"Move the {spec.name} champion back to the previous champion.",
        ),
        # A person's approval (or, with action 'reject', rejection) of a promotion waiting for it.
        dg.define_asset_job(
            approval_job_name(spec),
            selection=_keys(spec, (names.CHAMPION,)),
            config=approval_run_config(spec),
            tags={names.KIND_TAG: names.KIND_APPROVAL, **serial_tags(spec)},
            description=f"Approve or reject a {spec.name} promotion waiting for approval (set version, "
            "requested_by and reason in the config; action 'reject' to reject).",
        ),
    ]
