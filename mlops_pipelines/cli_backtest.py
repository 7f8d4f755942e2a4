"""`mlops-pipelines backtest`: the command that replays a project's history offline
(`lib.backtest.run`) and prints its table, or its JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _backtest_spec(args: argparse.Namespace) -> Any:
    """A project by name (examples, scenarios, $MLOPS_PROJECTS_DIR) or a spec file by path."""
    from mlops_pipelines.spec import PACKAGED_PROJECTS, SpecError, load_spec, load_specs, spec_directories

    if Path(args.project).suffix in (".yaml", ".yml"):
        return load_spec(args.project)
    specs = load_specs([PACKAGED_PROJECTS / "scenarios", *spec_directories()])
    if args.project not in specs:
        raise SpecError(f"unknown project {args.project!r}; known: {sorted(specs)} (or give a spec file)")
    return specs[args.project]


def _period(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a period of at least 1 partition, got {text!r}")
    return int(text)


def _share(text: str) -> float:
    """A share of the oracle's quality, in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a share of the oracle in (0, 1], got {value:g}")
    return value


def _cmd_backtest(args: argparse.Namespace) -> int:
    from mlops_pipelines.lib.backtest.output import report_lines
    from mlops_pipelines.lib.backtest.run import backtest_project, tune_json
    from mlops_pipelines.settings import load_settings

    spec = _backtest_spec(args)
    settings = load_settings()
    out = Path(args.out) if args.out else settings.reports_dir / spec.name / "backtest"
    run = backtest_project(
        spec,
        args.data_dir or settings.data_dir,
        out,
        settings.cache_dir,
        periods=args.period or (),
        tune=args.tune,
        target=args.target,
        progress=_progress,
    )
    if args.json:
        document = json.loads(run.json_path.read_text(encoding="utf-8"))
        print(json.dumps(document, indent=2))
        return 0
    for line in report_lines(run.report):
        print(line)
    if run.tuned is not None:
        tuned = tune_json(run.tuned)
        for row in tuned["results"]:
            share = row["share_of_oracle"]
            shown = "n/a" if share is None else f"{100 * share:.1f} %"
            print(f"tune: {row['what']}: {shown} of oracle, {row['retrains']} retrains")
        print(f"tune: recommendation {tuned['recommendation'] or 'keep the current settings'}")
        print(f"recommendation (not applied): {run.recommendation_path}")
    print(f"json: {run.json_path}")
    print(f"plot: {run.plot_path}")
    return 0


def add_backtest_parser(sub: Any) -> None:
    backtest = sub.add_parser(
        "backtest",
        help="replay a project's history offline: static, periodic, oracle and the project's policy",
    )
    backtest.add_argument("--project", required=True, help="project or scenario name, or a spec file")
    backtest.add_argument("--data-dir", help="directory with the real datasets (else $MLOPS_DATA_DIR)")
    backtest.add_argument("--out", help="output directory (default: <home>/reports/<project>/backtest)")
    backtest.add_argument(
        "--period", type=_period, action="append", help="also replay blind retraining every N partitions"
    )
    backtest.add_argument(
        "--tune", action="store_true", help="search retraining settings on the first half, report the second"
    )
    backtest.add_argument("--target", type=_share, default=0.98, help="share of the oracle --tune aims for")
    backtest.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    backtest.set_defaults(func=_cmd_backtest)
