"""`mlops-pipelines stack up | status | down` (what `./dev stack` runs): the deployed stack on this
machine. The work is in `mlops_pipelines/stack/`; this module parses and prints."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_pipelines.lib.registry.session import redact_uri


def add_stack_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = sub.add_parser(
        "stack",
        help="the deployed stack: PostgreSQL instance, MLflow server (basic auth), daemon, webserver, Celery workers",
    )
    stack.add_argument(
        "action", choices=("up", "status", "down"), help="start (and print the URLs), report, or stop"
    )
    stack.add_argument("--state-dir", help="where configuration, pids and logs live (else $MLOPS_STACK_DIR)")
    stack.add_argument(
        "--drop", action="store_true", help="with down: also drop the Dagster and MLflow databases"
    )
    stack.set_defaults(func=_cmd_stack)


def _cmd_stack(args: argparse.Namespace) -> int:
    from mlops_pipelines.stack import commands
    from mlops_pipelines.stack.config import stack_config

    state_dir = Path(args.state_dir) if args.state_dir else None
    config = stack_config(state_dir, credentials=args.action == "up")
    if args.action == "down":
        stopped = commands.down(config, drop=args.drop)
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        if args.drop:
            print(f"dropped databases {config.dagster_db}, {config.mlflow_db}")
        return 0
    states = commands.up(config) if args.action == "up" else commands.status(config)
    for state in states:
        where = f"  {state.url}" if state.url else ""
        running = f"running (pid {state.pid})" if state.pid else "stopped"
        print(f"{state.name:<15} {running:<22}{where}")
    print(f"state:    {config.state_dir}  (logs in {config.logs_dir})")
    print(f"database: {redact_uri(config.database_url(config.dagster_db))}, {config.mlflow_db}")
    print(f"dagster:  {config.webserver_url}")
    print(f"mlflow:   {config.tracking_uri}  (basic auth: MLFLOW_TRACKING_USERNAME / _PASSWORD)")
    print(f"workers:  source {config.state_dir / 'stack.env'} on another host to join")
    return 0 if all(state.pid for state in states) else 3
