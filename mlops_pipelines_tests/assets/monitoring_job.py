"""Helpers of the scoring and monitoring asset tests: the data, retrain, daily and labels jobs for
real, and what their runs recorded (materializations, observations, checks, failures)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec

FIRST, LAST = "2011-01-01", "2011-01-24"  # 12 training + 6 holdout partitions and the label delay
NEXT = ("2011-01-25", "2011-01-26")  # the days after the champion's data


def small(spec: ProjectSpec, **drift: Any) -> ProjectSpec:
    """A quick training section (12 partitions, 6 held out, one candidate); drift overrides. The
    gate asks for no more rows than the 6 held-out days hold (about 130), so the evaluation is
    the holdout alone and too small to fit a performance estimator on: these tests watch the
    champion without one."""
    training = {
        "window_partitions": 12,
        "holdout_partitions": 6,
        "cv_folds": 3,
        "search_space": {"model__max_iter": [60], "model__learning_rate": [0.1]},
        "search_iterations": 1,
    }
    return spec.model_copy(
        update={
            "training": spec.training.model_copy(update=training),
            "drift": spec.drift.model_copy(update=drift),
            "promotion": spec.promotion.model_copy(update={"min_rows": 100}),
        }
    )


def run(
    spec: ProjectSpec,
    job: str,
    instance: dg.DagsterInstance,
    first: str | None = None,
    last: str | None = None,
) -> dg.ExecuteInProcessResult:
    return run_job(build_definitions({spec.name: spec}), names.scoped(spec.name, job), instance, first, last)


def prepared(spec: ProjectSpec, instance: dg.DagsterInstance, champion: bool) -> None:
    """Features for FIRST..LAST and, when `champion`, a retrain that promotes version 1 (its refit,
    version 2, is the champion that serves)."""
    assert run(spec, names.DATA_JOB, instance, FIRST, LAST).success
    if champion:
        assert run(spec, names.RETRAIN_JOB, instance).success


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The plain values of the (last) materialization of `asset` in the run: in a range run,
    the last partition's own."""
    return list(by_partition(result, asset).values())[-1]


def by_partition(result: dg.ExecuteInProcessResult, asset: str) -> dict[str | None, dict[str, Any]]:
    """The plain metadata of each partition `asset` materialized in the run, in run order."""
    events = [
        e for e in result.get_asset_materialization_events() if e.materialization.asset_key.path[-1] == asset
    ]
    assert events, f"{asset} was not materialized"
    return {
        e.materialization.partition: {
            k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()
        }
        for e in events
    }


def observations(instance: dg.DagsterInstance, spec: ProjectSpec, asset: str) -> dict[str, dict[str, Any]]:
    """The newest observation's plain metadata per partition of `asset`."""
    records = instance.fetch_observations(dg.AssetKey([spec.name, asset]), limit=1000).records
    latest: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        obs = record.event_log_entry.asset_observation
        if obs is not None and obs.partition is not None:
            latest[obs.partition] = {k: getattr(v, "value", v) for k, v in obs.metadata.items()}
    return latest


def check(
    result: dg.ExecuteInProcessResult, name: str, partition: str | None = None
) -> dg.AssetCheckEvaluation:
    """The run's one evaluation of check `name` (of `partition`, for a partitioned check)."""
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.name == name and (partition is None or e.partition == partition)
    ]
    return evaluation


def checks(result: dg.ExecuteInProcessResult, name: str) -> dict[str | None, dg.AssetCheckEvaluation]:
    """The run's evaluations of check `name`, by partition."""
    return {e.partition: e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == name}


def failure(result: dg.ExecuteInProcessResult, spec: ProjectSpec, asset: str) -> str:
    """The failure message of `asset`'s step, with its causes."""
    assert not result.success
    step = names.scoped(spec.name, asset)
    [event] = [e for e in result.all_events if e.is_step_failure and e.step_key == step]
    error = event.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)
