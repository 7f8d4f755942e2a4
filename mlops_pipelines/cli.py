"""`mlops-pipelines`: the command line of the system (demo, serve, reproduce, rollback, ...)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mlops_pipelines import names, run_limits
from mlops_pipelines.instance_home import prepare_home

# The instance every command writes when DAGSTER_HOME has none yet (demo and ui alike, whichever
# runs first): offline (no telemetry calls from a closed network), and no raw stdout capture,
# which spawns watcher processes per run (~1 s each); structured logs, metadata and checks are
# all still in the event log. The event log is one SQLite file: the default keeps a file per
# run plus an index that repeats every asset event, twice the bytes per partition
# (benchmarks/bench_state.py: 295 -> 150 KB per partition on wine_quality).
INSTANCE_CONFIG = (
    "telemetry:\n  enabled: false\n"
    "compute_logs:\n  module: dagster._core.storage.noop_compute_log_manager\n"
    "  class: NoOpComputeLogManager\n"
    "event_log_storage:\n  module: dagster._core.storage.event_log\n"
    "  class: ConsolidatedSqliteEventLogStorage\n"
    "  config:\n    base_dir:\n      env: DAGSTER_HOME\n"
    # Under `dagster dev` runs go through the daemon's queue: one retrain or rollback per project
    # at a time (the drift retrain and the fallback schedule queue behind each other), as deployed.
    "concurrency:\n  runs:\n    tag_concurrency_limits:\n"
    f"      - key: {names.SERIAL_TAG}\n        value: {{applyLimitPerUniqueValue: true}}\n        limit: 1\n"
    # Under `dagster dev` the daemon fails a run orphaned by a killed process (run_limits.py).
    "run_monitoring:\n  enabled: true\n"
    f"  start_timeout_seconds: {run_limits.START_TIMEOUT_SECONDS}\n"
    f"  max_runtime_seconds: {run_limits.DEFAULT_MAX_RUNTIME_SECONDS}\n"
    f"  poll_interval_seconds: {run_limits.POLL_INTERVAL_SECONDS}\n"
)


# Commands that never open the Dagster instance (`stack` opens its own deployment's).
_NO_INSTANCE = frozenset({"init", "validate-spec", "backtest", "reports", "stack"})


def _use_state(args: argparse.Namespace) -> None:
    """Point every component at one state directory before anything reads it."""
    if getattr(args, "home", None):
        os.environ["MLOPS_HOME"] = str(Path(args.home).resolve())
    home = Path(os.environ.setdefault("MLOPS_HOME", str(Path(".mlops").resolve())))
    os.environ.setdefault("DAGSTER_HOME", str(home / "dagster"))
    # Under a lock: processes starting together on a fresh home must not race Dagster's
    # unlocked table creation (instance_home.py); commands that never open it skip the tables.
    storages = getattr(args, "command", None) not in _NO_INSTANCE
    prepare_home(Path(os.environ["DAGSTER_HOME"]), INSTANCE_CONFIG, storages=storages)
    if getattr(args, "data_dir", None):
        os.environ["MLOPS_DATA_DIR"] = str(Path(args.data_dir).resolve())


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _to_stdout(text: str) -> None:
    # Flushed: a piped stdout is block-buffered and would fall behind the progress on stderr.
    print(text, flush=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    from mlops_pipelines.demo import run_demo

    # The timeline goes to stderr with --json, so stdout keeps the one JSON object; progress
    # (a bar on a terminal, a line per block otherwise) goes to stderr either way.
    summary = run_demo(
        project=args.project,
        until=args.until,
        chunk=args.chunk,
        echo=_to_stderr if args.json else _to_stdout,
        progress=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    # Some partitions were blocked (the summary line on stderr says how many and why): not a success.
    return 1 if summary.get("blocked") else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlops_pipelines.serving.arguments import serve_from

    serve_from(args, args.parser)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from mlops_pipelines.reproduce import reproduce_version

    report = reproduce_version(args.project, str(args.version))
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(f"{report['project']} v{report['version']}: {'MATCH' if report['match'] else 'MISMATCH'}")
        for name, pair in report["metrics"].items():
            same = "==" if pair["recorded"] == pair["reproduced"] else "!="
            print(f"  {name}: recorded {pair['recorded']!r} {same} reproduced {pair['reproduced']!r}")
        for heading in ("reasons", "spec_changes", "notes"):
            for line in report.get(heading, []):
                print(f"  {heading.replace('_', ' ').rstrip('s')}: {line}")
        code = report.get("code", {})
        if code:
            print(f"  code: recorded commit {code['recorded_commit']}, current {code['current_commit']}")
    return 0 if report["match"] else 1


def build_parser() -> argparse.ArgumentParser:
    from mlops_pipelines.cli_audit import add_audit_parsers
    from mlops_pipelines.cli_backtest import add_backtest_parser
    from mlops_pipelines.cli_exporter import add_exporter_parser
    from mlops_pipelines.cli_init import add_init_parser
    from mlops_pipelines.cli_reconcile import add_reconcile_parser
    from mlops_pipelines.cli_stack import add_stack_parser
    from mlops_pipelines.cli_ui import add_ui_parser
    from mlops_pipelines.cli_validate import add_validate_parser
    from mlops_pipelines.serving.arguments import add_serving_arguments

    parser = argparse.ArgumentParser(prog="mlops-pipelines", description=__doc__)
    parser.add_argument("--home", help="state directory (default: $MLOPS_HOME or ./.mlops)")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="replay a project partition by partition through the closed loop")
    demo.add_argument(
        "--project",
        default=None,
        help="a project name or a spec file (.yaml); default: demand_sim (simulator), or bike_sharing with data",
    )
    demo.add_argument("--data-dir", help="directory with the real datasets (else $MLOPS_DATA_DIR)")
    demo.add_argument("--until", help="last partition key to replay")
    demo.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="partitions per Dagster run (default: 14, 28 for long replays)",
    )
    demo.add_argument("--json", action="store_true", help="print one JSON object instead of the timeline")
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser(
        "serve", help="serve the champion over HTTP (shadow and canary for the challenger)"
    )
    add_serving_arguments(serve)  # the same flags as `python -m mlops_pipelines.serving`
    serve.set_defaults(func=_cmd_serve, parser=serve)

    reproduce = sub.add_parser("reproduce", help="rebuild a registered version from its lineage")
    reproduce.add_argument("--project", required=True)
    reproduce.add_argument("--version", required=True)
    reproduce.add_argument("--json", action="store_true")
    reproduce.set_defaults(func=_cmd_reproduce)

    add_audit_parsers(sub)  # rollback, history, approve
    add_reconcile_parser(sub)

    add_validate_parser(sub)
    add_init_parser(sub)

    add_backtest_parser(sub)

    add_ui_parser(sub)
    add_stack_parser(sub)
    add_exporter_parser(sub)
    return parser


# Errors whose message says everything a user needs: printed without a traceback, exit code 1.
_KNOWN_ERRORS = (
    ("mlops_pipelines.spec", "SpecError"),
    ("mlops_pipelines.settings", "EnvironmentConfigError"),  # unknown MLOPS_ENV, a missing variable
    ("mlops_pipelines.lib.registry.lookup", "RegistryError"),  # RollbackError, ModelIntegrityError, ...
    ("mlops_pipelines.lib.registry.session", "TrackingUnavailable"),
    ("mlops_pipelines.lib.registry.session", "TrackingRejected"),  # wrong MLflow credentials
    ("mlops_pipelines.lib.registry.locks", "LockDatabaseError"),  # MLOPS_LOCK_URL unreachable
    ("mlops_pipelines.lib.registry.locks", "AliasLockTimeoutError"),  # another promotion holds it
    ("mlops_pipelines.lib.training.window", "TrainingWindowError"),
    ("mlops_pipelines.lib.reproduction.record", "ReproductionError"),
    ("mlops_pipelines.demo", "DemoError"),
    ("mlops_pipelines.lib.backtest.engine", "BacktestError"),
    ("mlops_pipelines.lib.backtest.history", "HistoryError"),
    ("mlops_pipelines.lib.ingestion.source_files", "SourceError"),  # a missing data directory or file
    ("mlops_pipelines.stack.config", "StackError"),  # a server unreachable, a setting missing
    ("mlops_pipelines.report_server", "ReportServerError"),  # the reports' address is taken
    ("mlops_pipelines.observability.server", "ExporterError"),  # an unknown project, a taken port
)


def _known_error_types() -> tuple[type[BaseException], ...]:
    # A module never imported cannot have raised its error; importing it here just for the
    # isinstance test would cost seconds (the demo module builds every project's graph).
    found = []
    for module, name in _KNOWN_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _use_state(args)
    try:
        result: Any = args.func(args)
    except Exception as err:
        if not isinstance(err, _known_error_types()):
            raise
        print(f"mlops-pipelines {args.command}: {err}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
