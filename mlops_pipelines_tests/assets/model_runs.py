"""Shared steps of the model-stage asset tests: real data, real retrain runs, their metadata."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias, get_version
from mlops_pipelines.lib.registry.lookup import ModelVersionRef
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lib.model_support import small, weak

__all__ = [
    "FIRST",
    "LAST",
    "LATER",
    "extend_bike",
    "later",
    "materialization",
    "meta",
    "prepare_bike",
    "refit_champion",
    "retrain",
    "small",
    "weak",
]

FIRST, LAST = "2011-01-01", "2011-01-24"
# The days after LAST: a challenger trained once they are labelled is evaluated on partitions the
# champion (refit on FIRST..LAST) never saw; 12 of them hold 256 rows, over promotion.min_rows (200).
LATER = ("2011-01-25", "2011-02-05")
LATER_HOLDOUT = 12


def prepare_bike(specs: dict[str, ProjectSpec], instance: dg.DagsterInstance) -> ProjectSpec:
    """The quick bike_sharing spec, with 24 days of real data through the data job."""
    spec = small(specs["bike_sharing"])
    job = names.scoped(spec.name, names.DATA_JOB)
    assert run_job(build_definitions({spec.name: spec}), job, instance, FIRST, LAST).success
    return spec


def extend_bike(spec: ProjectSpec, instance: dg.DagsterInstance) -> None:
    """The data job over LATER: fresh partitions after the first champion's whole window."""
    job = names.scoped(spec.name, names.DATA_JOB)
    assert run_job(build_definitions({spec.name: spec}), job, instance, *LATER).success


def later(spec: ProjectSpec) -> ProjectSpec:
    """`spec` with a holdout of LATER_HOLDOUT partitions: after `extend_bike` the gate compares it
    with a champion refit on FIRST..LAST on enough rows that champion never trained on."""
    training = spec.training.model_copy(update={"holdout_partitions": LATER_HOLDOUT})
    return spec.model_copy(update={"training": training})


def refit_champion(project: str, evaluated: str) -> ModelVersionRef:
    """The registry's champion, asserted to be the go-live refit of version `evaluated` (gate v2:
    a promoted challenger is refit on its whole window and that new version serves)."""
    cfg = LocalMlflowTracking().config()
    champion = get_alias(cfg, project, CHAMPION)
    assert champion is not None, f"{project}: no champion"
    assert champion.version != evaluated and champion.tags.get(names.ML_REFIT_OF) == evaluated
    assert get_version(cfg, project, evaluated).tags.get(names.ML_REFIT_VERSION) == champion.version
    return champion


def retrain(spec: ProjectSpec, instance: dg.DagsterInstance, **kwargs: Any) -> dg.ExecuteInProcessResult:
    job = names.scoped(spec.name, names.RETRAIN_JOB)
    return run_job(build_definitions({spec.name: spec}), job, instance, **kwargs)


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetMaterialization:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return event.materialization


def meta(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata of `asset`'s one materialization in the run, as plain values."""
    return {k: getattr(v, "value", v) for k, v in materialization(result, asset).metadata.items()}
