"""Code-location load time: `import mlops_pipelines.definitions` vs `import dagster`.

    python benchmarks/bench_load.py [--repeats 5] [--quick]

What `dagster dev`, the daemon and every run process pay before doing anything: importing the
module workspace.yaml names, which loads every packaged project spec and builds its graph.
Each import runs in a fresh interpreter (median of N, interleaved so background load hits both
alike); bytecode is cached, as in `./dev`. Goal: the code location loads in <= 1.5x the time
of importing Dagster itself, and no heavy library (great_expectations, evidently, mlflow,
sklearn) is imported by it: those belong inside the steps that use them.
"""

from __future__ import annotations

import argparse
import functools

from harness import (
    clean_env,
    interleaved,
    measure,
    print_goals,
    print_table,
    python,
    ratio,
    save_results,
)

GOAL = 1.5
HEAVY = ("great_expectations", "evidently", "mlflow", "sklearn")
# Loaded or not, worth knowing: what the import does pull in beside Dagster.
NOTABLE = ("pandas", "numpy", "pyarrow", "deltalake", "scipy", "matplotlib", "fairlearn", "pydantic", "yaml")
COMMANDS = {
    "python -c pass": "pass",
    "import dagster": "import dagster",
    "import mlops_pipelines.definitions": "import mlops_pipelines.definitions",
}
INSPECT = """
import json, sys, time
t0 = time.perf_counter()
import mlops_pipelines.definitions as d
seconds = time.perf_counter() - t0
roots = {m.split(".")[0] for m in sys.modules}
print("BENCH_RESULT " + json.dumps({
    "import_seconds": seconds,
    "heavy": sorted(r for r in %r if r in roots),
    "notable": sorted(r for r in %r if r in roots),
    "modules": len(sys.modules),
    "jobs": len(list(d.defs.resolve_all_job_defs())),
    "asset_keys": len(list(d.defs.resolve_all_asset_keys())),
}))
""" % (HEAVY, NOTABLE)  # noqa: UP031 - the template holds braces of its own


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command (median)")
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 3
    env = clean_env()
    # Warm the bytecode cache and the page cache once, untimed.
    for code in COMMANDS.values():
        measure([python(), "-c", code], env=env, expect_result=False)
    runs = {
        label: functools.partial(measure, [python(), "-c", code], env=env, expect_result=False)
        for label, code in COMMANDS.items()
    }
    summaries = interleaved(runs, {label: label for label in COMMANDS}, args.repeats)
    inspected = measure([python(), "-c", INSPECT], env=env).result

    base = summaries["import dagster"]
    rows = [
        (label, s.seconds, min(x.seconds for x in s.samples), s.peak_mb, ratio(s.seconds, base.seconds))
        for label, s in summaries.items()
    ]
    print_table(
        f"Import in a fresh process, median of {args.repeats} (x dagster = ratio to `import dagster`)",
        ["command", "median s", "min s", "peak MB", "x dagster"],
        rows,
    )
    heavy = inspected["heavy"]
    print(
        f"\nAfter `import mlops_pipelines.definitions` ({inspected['jobs']} jobs, {inspected['asset_keys']} "
        f"assets, {inspected['modules']} modules): heavy modules loaded: {', '.join(heavy) or 'none'}"
        f"; also loaded: {', '.join(inspected['notable']) or 'none'}"
    )
    code_location = ratio(summaries["import mlops_pipelines.definitions"].seconds, base.seconds)
    goals = print_goals([("code location load / import dagster", code_location, GOAL)])
    heavy_status = "PASS" if not heavy else "MISS"
    print(f"GOAL no heavy module at load ({', '.join(HEAVY)}): {heavy or 'none'} {heavy_status}")
    goals.append({"goal": "no heavy module at load", "loaded": heavy, "status": heavy_status})
    save_results(
        "bench_load",
        {
            "repeats": args.repeats,
            "measurements": {label: s.as_dict() for label, s in summaries.items()},
            "inspection": inspected,
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
