"""Jobs per project: the data cycle per partition, and retraining (train, evaluate, promote)."""

from __future__ import annotations

import dagster as dg

from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import ProjectSpec


def data_job_name(spec: ProjectSpec) -> str:
    return f"{spec.name}__data"


def build_project_jobs(spec: ProjectSpec) -> list[dg.UnresolvedAssetJobDefinition]:
    data = dg.define_asset_job(
        data_job_name(spec),
        selection=dg.AssetSelection.keys(
            [spec.name, "raw"], [spec.name, "validated"], [spec.name, "quarantine"], [spec.name, "features"]
        ),
        partitions_def=partitions_for(spec),
        description=f"Ingest, validate and build features for {spec.name}, per partition.",
    )
    return [data]
