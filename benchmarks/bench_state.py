"""State size per partition: what `demo` leaves under MLOPS_HOME, before and after maintenance.

    python benchmarks/bench_state.py [--projects demand_sim,wine_quality] [--until KEY]

For each project: a fresh MLOPS_HOME, `mlops-pipelines demo --project P --json` in its own
process, then the project's maintenance job (`<project>__maintenance`, report retention at its
default, Delta vacuum with min_retention_hours=0 so everything not pinned by a registered model
goes now; the default keeps a week). The state is broken down by component (Dagster event log,
Dagster handles, each Delta table, MLflow database, model artifacts, other run artifacts, each
report kind, Evidently's shared library) in bytes, files and bytes per partition.

Baseline, measured in the same run: the input, i.e. the rows the project ingested (its raw
table) written as CSV, per partition. GOAL: state / input <= 50x after maintenance.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import DATA_DIR, REPO, fmt, print_goals, print_table, save_results, state_env

GOAL = 50.0
CLI = [str(REPO / ".venv" / "bin" / "mlops-pipelines")]
MAINTAIN = """
import dagster as dg
from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.demo_inputs import project_spec
from mlops_pipelines.maintenance import maintenance_job_name
from mlops_pipelines.runner import run_job
spec = project_spec({project!r})
op = names.scoped(spec.name, names.MAINTENANCE_OP)
with dg.DagsterInstance.get() as instance:
    result = run_job(build_definitions({{spec.name: spec}}), maintenance_job_name(spec), instance,
                     run_config={{"ops": {{op: {{"config": {{"min_retention_hours": 0}}}}}}}})
assert result.success, "maintenance run failed"
"""


def _files(path: Path, pattern: str = "**/*") -> list[Path]:
    return [p for p in path.glob(pattern) if p.is_file()] if path.exists() else []


def _size(files: list[Path]) -> tuple[int, int]:
    return sum(p.stat().st_size for p in files), len(files)


def breakdown(home: Path, project: str) -> dict[str, tuple[int, int]]:
    """Component -> (bytes, files) of everything under `home`; the rest lands in 'other'."""
    parts: dict[str, list[Path]] = {}
    dagster, lake, mlflow, reports = (
        home / "dagster",
        home / "lake" / project,
        home / "mlflow",
        home / "reports",
    )
    # Runs and their events: history/ (runs.db, per-run shards), or the one event_log.db.
    parts["dagster event log"] = _files(dagster / "history") + _files(dagster, "event_log.db*")
    parts["dagster handles"] = _files(dagster / "handles")
    for table in sorted(p.name for p in lake.iterdir()) if lake.exists() else []:
        parts[f"lake {table}"] = _files(lake / table)
    parts["mlflow database"] = _files(mlflow, "*.db")
    parts["mlflow models"] = _files(mlflow / "artifacts" / project / "models")
    parts["mlflow run artifacts"] = [
        p for p in _files(mlflow / "artifacts") if p not in set(parts["mlflow models"])
    ]
    for kind in sorted(p.name for p in (reports / project).iterdir()) if (reports / project).exists() else []:
        parts[f"reports {kind}"] = [
            p for p in _files(reports / project / kind) if "_evidently" not in p.parts
        ]
    parts["reports shared library"] = [p for p in _files(reports) if "_evidently" in p.parts]
    counted = {p for files in parts.values() for p in files}
    parts["other"] = [p for p in _files(home) if p not in counted]
    return {name: _size(files) for name, files in parts.items()}


def input_bytes(home: Path, project: str) -> tuple[int, int]:
    """The ingested rows (the raw table, our columns starting with '_' left out) as CSV; partitions."""
    from mlops_pipelines.lib import lake

    raw = lake.read(str(home / "lake" / project / "raw"))
    partitions = int(raw["_partition"].nunique())
    rows = raw[[c for c in raw.columns if not c.startswith("_")]]
    return len(rows.to_csv(index=False).encode("utf-8")), partitions


def run_project(project: str, until: str | None, home: Path, event_log: str) -> dict[str, Any]:
    from mlops_pipelines.cli import INSTANCE_CONFIG

    # The instance the CLI writes for a new home (compute logs off), not the harness's default.
    (home / "dagster").mkdir(parents=True)
    config = INSTANCE_CONFIG
    if event_log == "sharded":  # Dagster's default SQLite event log: a file per run plus an index
        config = config.split("event_log_storage:")[0]
    (home / "dagster" / "dagster.yaml").write_text(config, encoding="utf-8")
    env = state_env(home, DATA_DIR)
    argv = [*CLI, "--home", str(home), "demo", "--project", project, "--json"]
    if until:
        argv += ["--until", until]
    print(f"\n{project}: demo into {home} ...", flush=True)
    demo = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if demo.returncode not in (0, 1) or not demo.stdout.strip():  # 1 with JSON: some blocked
        sys.exit(f"{project}: demo failed ({demo.returncode}):\n{demo.stderr[-3000:]}")
    summary = json.loads(demo.stdout)
    before = breakdown(home, project)
    code = MAINTAIN.format(project=project)
    maintained = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
    )
    if maintained.returncode != 0:
        sys.exit(f"{project}: maintenance failed:\n{maintained.stderr[-3000:]}")
    after = breakdown(home, project)
    data, partitions = input_bytes(home, project)
    return {
        "project": project,
        "partitions": partitions,
        "input_bytes": data,
        "retrains": len(summary["retrains"]),
        "runs": summary["runs"],
        "before": before,
        "after": after,
    }


def report_project(result: dict[str, Any]) -> tuple[float, float]:
    n, data = result["partitions"], result["input_bytes"]
    rows = []
    for name in result["before"]:
        (b_bytes, b_files), (a_bytes, a_files) = result["before"][name], result["after"].get(name, (0, 0))
        rows.append((name, b_bytes / n / 1024, b_files, a_bytes / n / 1024, a_files, a_bytes / data))
    total_b = sum(b for b, _ in result["before"].values())
    total_a = sum(a for a, _ in result["after"].values())
    rows.append(("TOTAL", total_b / n / 1024, "", total_a / n / 1024, "", total_a / data))
    rows.append(("input (raw rows as CSV): baseline", data / n / 1024, "", data / n / 1024, "", 1.0))
    print_table(
        f"{result['project']}: {n} partitions, {result['retrains']} retrains, {result['runs']} runs "
        f"(KB per partition; x input = component bytes after maintenance / input bytes)",
        ["component", "KB/partition before", "files before", "KB/partition after", "files after", "x input"],
        rows,
    )
    return total_b / data, total_a / data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", default="demand_sim,wine_quality")
    parser.add_argument("--until", help="last partition key to replay (default: the whole data)")
    parser.add_argument(
        "--event-log",
        choices=("consolidated", "sharded"),
        default="consolidated",
        help="Dagster's SQLite event log: the CLI's (one file) or Dagster's default (a file per run + an index)",
    )
    args = parser.parse_args()
    results, goals = [], []
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        for project in args.projects.split(","):
            result = run_project(project, args.until, Path(tmp) / project, args.event_log)
            before, after = report_project(result)
            print(f"{project}: state / input {fmt(before)}x before maintenance, {fmt(after)}x after")
            results.append({**result, "ratio_before": before, "ratio_after": after})
            goals.append((f"{project} state / input after maintenance", after, GOAL))
    payload = {"event_log": args.event_log, "projects": results, "goals": print_goals(goals)}
    name = "state" if args.event_log == "consolidated" else f"state_{args.event_log}"
    print(f"results: {save_results(name, payload)}")


if __name__ == "__main__":
    main()
