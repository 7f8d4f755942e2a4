"""Registry cases the serving path depends on: where a project's experiment may keep its models."""

from __future__ import annotations

import dagster as dg
import pytest
from serving_support import Registry, tracking_config

from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import (
    ForeignArtifactLocationError,
    ensure_experiment,
    experiment_name,
)


@pytest.mark.parametrize(
    ("project", "location"),
    [("case39_file", "file:///etc"), ("case39_metadata", "http://169.254.169.254/latest")],
)
def test_case_39_an_experiment_with_a_foreign_artifact_location_is_refused(
    registry: Registry, project: str, location: str
) -> None:
    cfg = tracking_config(registry.settings)
    with open_client(cfg) as client:
        client.create_experiment(experiment_name(cfg, project), artifact_location=location)
    with pytest.raises(ForeignArtifactLocationError, match=f"keeps its artifacts at '{location}'"):
        ensure_experiment(cfg, project)


def test_an_experiment_under_the_artifact_root_is_used(registry: Registry) -> None:
    """Failure twin: the project's own location, written as a path or as a file:// URI."""
    cfg = tracking_config(registry.settings)
    with open_client(cfg) as client:
        own = client.create_experiment(
            experiment_name(cfg, "case39_own"), artifact_location=f"file://{cfg.artifact_root}/case39_own/"
        )
    assert ensure_experiment(cfg, "case39_own") == own
    assert ensure_experiment(cfg, "case39_fresh")  # created where it belongs


def test_orphan_mlflow_runs_of_failed_dagster_runs_are_ended_failed_with_a_reason(registry: Registry) -> None:
    """A real Dagster instance holds one failed and one successful run; each opened an MLflow run."""
    from mlops_pipelines import names
    from mlops_pipelines.lib.registry.orphans import reconcile_orphan_runs

    @dg.op
    def dies() -> None:
        raise RuntimeError("the training step died")

    @dg.op
    def trains() -> None:
        return None

    @dg.job
    def train_dies() -> None:
        dies()

    @dg.job
    def train_trains() -> None:
        trains()

    instance = dg.DagsterInstance.ephemeral()
    failed, succeeded = (
        job.execute_in_process(instance=instance, raise_on_error=False).run_id
        for job in (train_dies, train_trains)
    )
    cfg = tracking_config(registry.settings)
    project = "orphans_case"
    experiment = ensure_experiment(cfg, project)
    with open_client(cfg) as client:
        orphan, live, untagged = (
            client.create_run(experiment, tags=tags).info.run_id
            for tags in ({names.ML_DAGSTER_RUN: failed}, {names.ML_DAGSTER_RUN: succeeded}, {})
        )

    def status(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        return run.status.value if run is not None else None

    [done] = reconcile_orphan_runs(cfg, project, status)
    assert (done.mlflow_run_id, done.dagster_run_id) == (orphan, failed)
    with open_client(cfg) as client:
        ended = client.get_run(orphan)
        assert ended.info.status == "FAILED"
        assert (
            ended.data.tags[names.ML_ORPHAN_REASON]
            == f"Dagster run {failed} ended FAILURE while this run was RUNNING"
        )
        # Failure twins: a run whose Dagster run succeeded (its step ends it) and one without a
        # Dagster run id stay as they are; a second pass changes nothing.
        assert {client.get_run(r).info.status for r in (live, untagged)} == {"RUNNING"}
    assert reconcile_orphan_runs(cfg, project, status) == ()
