"""How fast is `mlops-pipelines backtest`? The whole bike_sharing history, and against the demo.

    python benchmarks/bench_backtest.py            # the whole history, then the same-prefix race
    python benchmarks/bench_backtest.py --quick    # the same-prefix race only

1. The whole bike_sharing backtest (731 daily partitions; static, oracle with a fit before
   every partition, the project's policy, periodic at the policy's count), in a fresh process,
   against the 5-minute goal.
2. The same history prefix (2011-01-01..PREFIX_END) replayed twice: by `demo` (Dagster runs,
   MLflow, Delta tables, the sensor after every partition) and by `backtest` on a copy of the
   spec cut at the same end. The backtest covers more (every strategy, the oracle's fit per
   partition) and must still be at least 5x faster.
Both measured processes start cold (fresh state directory, the interpreter's own imports).
"""

from __future__ import annotations

import argparse
import json
import shutil

import yaml
from harness import (
    DATA_DIR,
    fresh_dir,
    measure,
    note,
    print_goals,
    print_table,
    python,
    ratio,
    save_results,
    state_env,
)

PROJECT = "bike_sharing"
PREFIX_END = "2011-06-30"  # 181 partitions: long enough for several retrains in both replays
GOAL_WHOLE_SECONDS = 300.0
GOAL_RATIO = 0.2  # backtest / demo wall time on the same prefix (5x faster)
CLI = ["-m", "mlops_pipelines.cli"]


def cut_spec(directory: str) -> str:
    """The project's spec with its partitions ending after PREFIX_END (the demo's --until)."""
    from mlops_pipelines.spec import PACKAGED_PROJECTS

    data = yaml.safe_load((PACKAGED_PROJECTS / f"{PROJECT}.yaml").read_text(encoding="utf-8"))
    data["partitions"]["end"] = "2011-07-01"
    path = f"{directory}/{PROJECT}_prefix.yaml"
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def run_backtest(spec: str, label: str) -> tuple[float, dict[str, object]]:
    home = fresh_dir(f"bench-backtest-{label}-")
    try:
        out = home / "out"
        argv = [python(), *CLI, "backtest", "--project", spec, "--out", str(out), "--data-dir", str(DATA_DIR)]
        sample = measure(argv, env=state_env(home), expect_result=False, timeout=3600)
        document = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
        note(f"  backtest {label}: {sample.seconds:.1f} s")
        return sample.seconds, document
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_demo() -> float:
    home = fresh_dir("bench-backtest-demo-")
    try:
        argv = [python(), *CLI, "demo", "--project", PROJECT, "--until", PREFIX_END, "--json"]
        sample = measure(argv, env=state_env(home), expect_result=False, timeout=7200)
        note(f"  demo prefix: {sample.seconds:.1f} s")
        return sample.seconds
    finally:
        shutil.rmtree(home, ignore_errors=True)


def shares(document: dict[str, object]) -> dict[str, object]:
    strategies = document["strategies"]
    assert isinstance(strategies, list)
    return {s["strategy"]: [round(s["share_of_oracle"] or 0.0, 4), s["retrains"]] for s in strategies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the same-prefix race")
    args = parser.parse_args()
    results: dict[str, object] = {}
    goals = []
    rows = []
    if not args.quick:
        whole, document = run_backtest(PROJECT, "whole")
        results["whole_seconds"] = whole
        results["whole_shares"] = shares(document)
        rows.append(["backtest, whole history (731 partitions)", f"{whole:.1f}", "-"])
        goals.append(
            ("backtest of the whole bike_sharing history / 300 s", ratio(whole, GOAL_WHOLE_SECONDS), 1.0)
        )
    spec_dir = fresh_dir("bench-backtest-spec-")
    try:
        prefix, document = run_backtest(cut_spec(str(spec_dir)), "prefix")
    finally:
        shutil.rmtree(spec_dir, ignore_errors=True)
    demo = run_demo()
    results.update(prefix_seconds=prefix, demo_seconds=demo, prefix_shares=shares(document))
    rows.append([f"demo, 2011-01-01..{PREFIX_END} (baseline)", f"{demo:.1f}", "1.00x"])
    rows.append([f"backtest, 2011-01-01..{PREFIX_END}", f"{prefix:.1f}", f"{ratio(prefix, demo) or 0:.2f}x"])
    print_table(
        "bike_sharing replays (wall seconds, fresh processes)", ["replay", "seconds", "vs demo"], rows
    )
    goals.append(("backtest / demo on the same prefix", ratio(prefix, demo), GOAL_RATIO))
    results["goals"] = print_goals(goals)
    save_results("backtest", results)


if __name__ == "__main__":
    main()
