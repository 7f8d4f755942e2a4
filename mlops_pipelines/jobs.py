"""Jobs per project: the data cycle per partition, and retraining (train, evaluate, promote)."""

from __future__ import annotations

import dagster as dg

from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import ProjectSpec


def data_job_name(spec: ProjectSpec) -> str:
    return f"{spec.name}__data"


def retrain_job_name(spec: ProjectSpec) -> str:
    return f"{spec.name}__retrain"


def build_project_jobs(spec: ProjectSpec) -> list[dg.UnresolvedAssetJobDefinition]:
    data = dg.define_asset_job(
        data_job_name(spec),
        selection=dg.AssetSelection.keys(
            [spec.name, "raw"], [spec.name, "validated"], [spec.name, "quarantine"], [spec.name, "features"]
        ),
        partitions_def=partitions_for(spec),
        description=f"Ingest, validate and build features for {spec.name}, per partition.",
    )
    retrain = dg.define_asset_job(
        retrain_job_name(spec),
        selection=dg.AssetSelection.keys([spec.name, "model"], [spec.name, "evaluation"], [spec.name, "champion"]),
        description=f"Train, evaluate and (if the gate passes) promote a new {spec.name} model.",
    )
    return [data, retrain]
