"""`mlops-pipelines validate-spec [--data DIR] SPEC...`: check specs, and with --data the real data.

Without --data each spec is parsed and checked on its own. With --data the spec's source is
read from DIR (it wins over the spec's `data_dir` and MLOPS_DATA_DIR) and everything the
project will see is printed (lib/ingestion/data_check.py); any problem is an `error:` line
naming the column or setting, on stderr too, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_validate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate-spec",
        help="check project spec files (with --data: against the real data)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("paths", nargs="+", help="spec files")
    validate.add_argument(
        "--data",
        metavar="DIR",
        help="directory the spec's file paths are relative to: read them and report what the project will see",
    )
    validate.set_defaults(func=run_validate_spec)


def _say(text: object, err: bool = False) -> None:
    """One line to stdout (or stderr): this module prints its report, like cli.py."""
    (sys.stderr if err else sys.stdout).write(f"{text}\n")


def _check_data(path: str, spec_dir: Path, data: str) -> bool:
    from mlops_pipelines.lib.ingestion.data_check import check_data
    from mlops_pipelines.partitions import partition_keys
    from mlops_pipelines.settings import load_settings
    from mlops_pipelines.spec import load_spec

    spec = load_spec(path)
    spec = spec.model_copy(update={"data_dir": str(Path(data).expanduser().resolve())})
    report = check_data(
        spec, Path(spec.data_dir or spec_dir), load_settings().cache_dir, partition_keys(spec)
    )
    for line in report.lines:
        _say(f"  {line}")
    for warning in report.warnings:
        _say(f"  warning: {warning}")
    for error in report.errors:
        _say(f"  error: {error}")
        _say(f"{path}: error: {error}", err=True)
    verdict = "ok" if report.ok else f"{len(report.errors)} error(s)"
    _say(f"{path}: data {verdict}")
    return report.ok


def run_validate_spec(args: argparse.Namespace) -> int:
    from mlops_pipelines.spec import SpecError, load_spec

    status = 0
    for path in args.paths:
        try:
            spec = load_spec(path)
        except SpecError as err:
            _say(err, err=True)
            status = 1
            continue
        _say(f"{path}: ok ({spec.name}, {spec.task.value}, {len(spec.columns)} columns)")
        if args.data is not None and not _check_data(path, Path(path).parent, args.data):
            status = 1
    return status
