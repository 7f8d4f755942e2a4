"""Helpers of the data-stage asset tests: run the data job for days, read what it recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec


def with_bad_batches(spec: ProjectSpec) -> ProjectSpec:
    """demand_sim whose simulator corrupts every day, in the rotation the simulator documents:
    day 1 out-of-range temp, day 2 all-null humidity, day 3 unseen weather category,
    day 4 duplicated rows, day 5 windspeed retyped as text."""
    assert spec.source.simulator is not None
    simulator = spec.source.simulator.model_copy(update={"bad_batch_every": 1})
    return spec.model_copy(update={"source": spec.source.model_copy(update={"simulator": simulator})})


def run_days(
    spec: ProjectSpec, instance: dg.DagsterInstance, first: str, last: str, **options: Any
) -> dg.ExecuteInProcessResult:
    """The project's data job for partitions first..last, in process."""
    defs = build_definitions({spec.name: spec})
    return run_job(defs, names.scoped(spec.name, names.DATA_JOB), instance, first, last, **options)


def table_uri(home: Path, project: str, table: str) -> str:
    return str(home / "lake" / project / table)


def check(result: dg.ExecuteInProcessResult, asset: list[str], name: str) -> dg.AssetCheckEvaluation:
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.asset_check_key == dg.AssetCheckKey(dg.AssetKey(asset), name):
            return evaluation
    raise AssertionError(f"no evaluation of check {asset}:{name}")


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The plain values of the (last) materialization of `asset` in the run."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    return {k: getattr(v, "value", v) for k, v in events[-1].materialization.metadata.items()}


def quarantine(home: Path, project: str, day: str) -> list[dict[str, Any]]:
    rows = lake.read(table_uri(home, project, names.QUARANTINE))
    return rows[rows[PARTITION] == day].to_dict("records")
