"""Shared steps of the model-stage asset tests: real data, real retrain runs, their metadata."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lib.model_support import small, weak

__all__ = ["FIRST", "LAST", "materialization", "meta", "prepare_bike", "retrain", "small", "weak"]

FIRST, LAST = "2011-01-01", "2011-01-24"


def prepare_bike(specs: dict[str, ProjectSpec], instance: dg.DagsterInstance) -> ProjectSpec:
    """The quick bike_sharing spec, with 24 days of real data through the data job."""
    spec = small(specs["bike_sharing"])
    job = names.scoped(spec.name, names.DATA_JOB)
    assert run_job(build_definitions({spec.name: spec}), job, instance, FIRST, LAST).success
    return spec


def retrain(spec: ProjectSpec, instance: dg.DagsterInstance, **kwargs: Any) -> dg.ExecuteInProcessResult:
    job = names.scoped(spec.name, names.RETRAIN_JOB)
    return run_job(build_definitions({spec.name: spec}), job, instance, **kwargs)


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetMaterialization:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return event.materialization


def meta(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata of `asset`'s one materialization in the run, as plain values."""
    return {k: getattr(v, "value", v) for k, v in materialization(result, asset).metadata.items()}
