"""`mlops-pipelines reconcile --project P`: end FAILED the MLflow runs failed Dagster runs left RUNNING.

The training step does the same before it trains (run_records.reconcile_project); this command
is for a project that is not training (or to clean up at once after an outage).
"""

from __future__ import annotations

import argparse


def _cmd_reconcile(args: argparse.Namespace) -> int:
    import dagster as dg

    from mlops_pipelines.resources.environment import environment_for
    from mlops_pipelines.run_records import reconcile_project

    cfg = environment_for().tracking_config()
    # The instance whose run statuses decide (DAGSTER_HOME, set by the CLI's state directory).
    with dg.DagsterInstance.get() as instance:
        done = reconcile_project(instance, cfg, args.project)
    for run in done:
        print(f"{args.project}: MLflow run {run.mlflow_run_id} ended FAILED: {run.reason}")
    print(f"{args.project}: {len(done)} orphan MLflow run(s) reconciled")
    return 0


def add_reconcile_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reconcile = sub.add_parser(
        "reconcile", help="end FAILED the MLflow runs that failed or canceled Dagster runs left RUNNING"
    )
    reconcile.add_argument("--project", required=True)
    reconcile.set_defaults(func=_cmd_reconcile)
