"""`mlops-pipelines stack up | status | down | demo` (what `./dev stack` runs): the deployed stack on this
machine. The work is in `mlops_pipelines/stack/`; this module parses and prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops_pipelines.lib.registry.session import redact_uri


def add_stack_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = sub.add_parser(
        "stack",
        help="the deployed stack: PostgreSQL instance, MLflow server (basic auth), daemon, webserver, Celery workers",
    )
    stack.add_argument(
        "action",
        choices=("up", "status", "down", "demo"),
        help="start (and print the URLs), report, stop, or replay a project through the running stack",
    )
    stack.add_argument("--state-dir", help="where configuration, pids and logs live (else $MLOPS_STACK_DIR)")
    stack.add_argument(
        "--drop", action="store_true", help="with down: also drop the Dagster and MLflow databases"
    )
    stack.add_argument("--project", help="with demo: the project to replay (a name or a spec file)")
    stack.add_argument("--until", help="with demo: the last partition to replay (default: all)")
    stack.add_argument("--json", action="store_true", help="with demo: print the summary as JSON")
    stack.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="with demo: seconds to wait for one run, or for the daemon's next sensor tick (default 900)",
    )
    stack.set_defaults(func=_cmd_stack)


def _cmd_stack_demo(args: argparse.Namespace, state_dir: Path | None) -> int:
    from mlops_pipelines.stack.config import StackError, stack_config
    from mlops_pipelines.stack.demo import run_stack_demo

    if not args.project:
        raise StackError("stack demo needs --project NAME (a project name or a spec file)")
    out = sys.stderr if args.json else sys.stdout  # with --json, stdout carries the one JSON object
    summary = run_stack_demo(
        stack_config(state_dir),
        args.project,
        until=args.until,
        timeout=args.timeout,
        echo=lambda text: print(text, file=out, flush=True),
        progress=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    return 1 if summary.get("blocked") else 0


def _cmd_stack(args: argparse.Namespace) -> int:
    from mlops_pipelines.stack import commands
    from mlops_pipelines.stack.config import stack_config

    state_dir = Path(args.state_dir) if args.state_dir else None
    if args.action == "demo":
        return _cmd_stack_demo(args, state_dir)
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
