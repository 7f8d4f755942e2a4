"""`mlops-pipelines ui` (what `./dev ui` runs): `dagster dev` on the instance the demo uses.

The CLI's `main` has already pointed MLOPS_HOME and DAGSTER_HOME at the state directory and
written the instance configuration (`cli._use_state`), the same file whichever of demo and ui
runs first. This module adds what the UI needs beyond that: where the real datasets are (runs
launched from the UI read them), and a log holding only warnings a user can act on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mlops_pipelines.report_server import ReportServerError, check_address, serve_reports
from mlops_pipelines.settings import DATA_DIR_ENV, REPORTS_URL_ENV, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
# The README's layout: the repository expects the shared datasets beside it.
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
# `dagster dev` says it is superseded by `dg dev`, which is not installed here: nothing to act on.
SUPERSEDED_NOTICE = "Function `dev_command` is superseded"
UI_SITE = Path(__file__).resolve().parent / "ui_site"


def add_ui_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ui = sub.add_parser("ui", help="the Dagster UI (dagster dev) on the same instance as the demo")
    ui.add_argument(
        "--data-dir",
        help=f"directory with the real datasets (else ${DATA_DIR_ENV}, else {DEFAULT_DATA_DIR} if it exists)",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address the webserver binds (default loopback)")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)
    reports = sub.add_parser(
        "reports", help=f"serve the reports directory at ${REPORTS_URL_ENV} (ui does this itself)"
    )
    reports.set_defaults(func=_cmd_reports)


def ui_data_dir(environ: Mapping[str, str], default: Path) -> Path | None:
    """The data directory runs launched from the UI read: MLOPS_DATA_DIR (which --data-dir has
    set by now), else the README's `../shared/data` when it exists, else None."""
    given = environ.get(DATA_DIR_ENV)
    if given:
        return Path(given)
    return default if default.is_dir() else None


def projects_needing_data() -> list[str]:
    """Projects whose runs read files relative to the data directory (no `data_dir` of their own)."""
    from mlops_pipelines.spec import load_specs

    return sorted(
        name
        for name, spec in load_specs().items()
        if spec.source.kind in ("csv", "parquet") and spec.data_dir is None
    )


def ui_command(host: str, port: int) -> list[str]:
    """The `dagster dev` command line, run by this interpreter with the one notice filtered."""
    return [
        sys.executable,
        "-W",
        f"ignore:{SUPERSEDED_NOTICE}",
        "-m",
        "dagster",
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]


def _cmd_ui(args: argparse.Namespace) -> int:
    data_dir = ui_data_dir(os.environ, DEFAULT_DATA_DIR)
    if data_dir is None:
        needing = ", ".join(projects_needing_data())
        print(
            f"warning: no data directory: runs of {needing} will fail. "
            f"Pass --data-dir DIR or set {DATA_DIR_ENV} (demand_sim needs none).",
            file=sys.stderr,
        )
    else:
        # Exported so the code server, the daemon and every run process read the same directory.
        os.environ[DATA_DIR_ENV] = str(data_dir.resolve())
    # Every process dagster dev starts runs ui_site/sitecustomize.py first: partition pages end
    # where a finished dataset does (Dagster 1.13.27 pages them from today).
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(UI_SITE), os.environ.get("PYTHONPATH")) if p)
    start_reports_process()
    command = ui_command(args.host, args.port)
    os.execv(command[0], command)


def start_reports_process() -> subprocess.Popen[bytes] | None:
    """The report links' server as a child in this process group: `dagster dev` then replaces
    this process (exec), so a signal to the group stops both and the UI's exit code is its own;
    the child also exits when its parent goes. A taken address is one warning, not a failure."""
    settings = load_settings()
    try:
        check_address(settings.reports_url)
    except ReportServerError as err:
        print(f"warning: report links will not open: {err}", file=sys.stderr)
        return None
    command = [sys.executable, "-m", "mlops_pipelines.report_server", str(settings.reports_dir)]
    child = subprocess.Popen([*command, settings.reports_url])
    print(f"reports: {settings.reports_url}", file=sys.stderr)
    return child


def _cmd_reports(args: argparse.Namespace) -> int:
    settings = load_settings()
    served = serve_reports(settings.reports_dir, settings.reports_url)
    print(f"serving {settings.reports_dir} at {served.url} (Ctrl-C stops)")
    try:
        served.thread.join()
    except KeyboardInterrupt:
        served.stop()
    return 0
