"""Orphan MLflow runs: runs left RUNNING because the Dagster run that opened them died.

A training step opens an MLflow run and ends it FINISHED or FAILED itself; only a step that
never got to (its process killed, its run cancelled) leaves it RUNNING for ever, which reads
as "still training" in the MLflow UI and in anything counting live runs. The run's
`dagster.run_id` tag names the Dagster run; once that run has ended without success, the
MLflow run is ended FAILED with the reason as a tag. The caller supplies the Dagster run
statuses (this package's lib/ never imports Dagster).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines import names
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import experiment_name

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig

log = logging.getLogger(__name__)

# Dagster run statuses after which no step of the run will ever end its MLflow run.
ENDED_WITHOUT_SUCCESS = frozenset({"FAILURE", "CANCELED"})


@dataclass(frozen=True)
class ReconciledRun:
    mlflow_run_id: str
    dagster_run_id: str
    reason: str


def reconcile_orphan_runs(
    cfg: TrackingConfig, project: str, dagster_status: Callable[[str], str | None]
) -> tuple[ReconciledRun, ...]:
    """End FAILED every RUNNING run of `project` whose Dagster run ended without success.

    `dagster_status(run_id)` is the Dagster run's status name (`FAILURE`, `SUCCESS`, ...), or
    None for a run the instance does not know (then it is left alone: it may belong to another
    instance). Runs without a Dagster run id are left alone too.
    """
    with open_client(cfg) as client:
        experiment = client.get_experiment_by_name(experiment_name(cfg, project))
        if experiment is None:
            return ()
        running = client.search_runs(
            [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'"
        )
        done: list[ReconciledRun] = []
        for run in running:
            dagster_run = run.data.tags.get(names.ML_DAGSTER_RUN)
            status = dagster_status(dagster_run) if dagster_run else None
            if status not in ENDED_WITHOUT_SUCCESS:
                continue
            reason = f"Dagster run {dagster_run} ended {status} while this run was RUNNING"
            client.set_tag(run.info.run_id, names.ML_ORPHAN_REASON, reason)
            client.set_terminated(run.info.run_id, "FAILED")
            log.warning("%s: MLflow run %s: %s; marked FAILED", project, run.info.run_id, reason)
            done.append(ReconciledRun(run.info.run_id, str(dagster_run), reason))
    return tuple(done)
