"""Drift verdict and report cost: ours vs a bare numpy floor vs Evidently on the full data.

    python benchmarks/bench_drift.py                       # 100k and 1M rows
    python benchmarks/bench_drift.py --rows 10000000       # float32 columns at 10M (see below)
    python benchmarks/bench_drift.py --with-evidently-full # also Evidently on all rows at >= 1M (slow)

Data: seeded synthetic reference/current, 18 numeric + 4 categorical columns (22). Numeric
column i is shifted by 0.05 * i standard deviations (0 .. 0.85), so there are clear drifts,
clear non-drifts and borderline columns; one categorical changes its mix. At 10M rows the
numeric columns are float32 (22 x 10M float64 would be 1.8 GB per side).
Each measurement runs in its own subprocess, so its peak RSS (ru_maxrss) is its own; the
peak includes the two frames held in memory ("data MB" is the RSS right after generating them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_pipelines.lib.features import FeatureKind
from mlops_pipelines.spec import DriftSpec

NUMERIC, CATEGORICAL = 18, 4
SEED = 20240101
SPECS = {
    "psi": DriftSpec(
        numeric_method="psi", numeric_threshold=0.1, categorical_method="psi", categorical_threshold=0.1
    ),
    "ks": DriftSpec(
        numeric_method="ks", numeric_threshold=0.1, categorical_method="chisquare", categorical_threshold=0.05
    ),
    "wasserstein": DriftSpec(
        numeric_method="wasserstein",
        numeric_threshold=0.1,
        categorical_method="jensenshannon",
        categorical_threshold=0.1,
    ),
}


def kinds() -> dict[str, FeatureKind]:
    out: dict[str, FeatureKind] = {f"num_{i:02d}": "numeric" for i in range(NUMERIC)}
    out.update({f"cat_{j}": "categorical" for j in range(CATEGORICAL)})
    return out


def generate(rows: int, current: bool) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + int(current))
    dtype = np.float32 if rows >= 10_000_000 else np.float64
    # One column-major block: pandas takes it without the copy a dict of columns would cost.
    block = np.empty((rows, NUMERIC), dtype=dtype, order="F")
    for i in range(NUMERIC):
        rng.standard_normal(rows, dtype=dtype, out=block[:, i])
        block[:, i] += dtype(0.05 * i if current else 0.0)
    frame = pd.DataFrame(block, columns=[f"num_{i:02d}" for i in range(NUMERIC)], copy=False)
    mix = np.array([0.4, 0.3, 0.2, 0.1])
    for j in range(CATEGORICAL):
        p = mix[::-1] if (current and j == 0) else mix
        codes = rng.choice(4, rows, p=p).astype(np.int8)
        frame[f"cat_{j}"] = pd.Categorical.from_codes(codes, categories=pd.Index(list("abcd")))  # type: ignore[arg-type]
    return frame


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """User + system CPU of this process, all threads: steadier than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def numpy_floor(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """The least work for a verdict: one sort per side and a KS sweep; bincount for categories."""
    for name, kind in kinds().items():
        if kind == "numeric":
            ref, cur = np.sort(reference[name].to_numpy()), np.sort(current[name].to_numpy())
            np.max(
                np.abs(
                    np.searchsorted(ref, cur, side="right") / len(ref) - np.arange(1, len(cur) + 1) / len(cur)
                )
            )
        else:
            np.bincount(reference[name].cat.codes.to_numpy(dtype=np.int64) + 1)
            np.bincount(current[name].cat.codes.to_numpy(dtype=np.int64) + 1)


def child(task: dict) -> dict:
    """One measurement, in a fresh process."""
    reference, current = generate(task["rows"], False), generate(task["rows"], True)
    out: dict = {"data_mb": rss_mb()}
    spec = SPECS[task.get("method", "psi")]
    t0 = time.perf_counter()
    import scipy.special  # noqa: F401  (chi-square p-values; a Dagster step has it loaded already)

    out["scipy_import_s"] = time.perf_counter() - t0
    started, cpu_started = time.perf_counter(), cpu_s()
    if task["what"] == "floor":
        numpy_floor(reference, current)
    elif task["what"] == "ours":
        from mlops_pipelines.lib.monitoring.drift import compute_drift

        result = compute_drift(reference, current, kinds(), spec)
        out["drifted"] = {c.column: c.drifted for c in result.columns}
    elif task["what"] in ("verdict+report", "evidently"):
        t0 = time.perf_counter()
        import evidently  # noqa: F401  (import cost reported apart)

        out["import_s"] = time.perf_counter() - t0
        started, cpu_started = time.perf_counter(), cpu_s()
        from mlops_pipelines.lib.monitoring import reports

        with tempfile.TemporaryDirectory() as tmp:
            if task["what"] == "evidently":
                full = reports.run_evidently_drift(reference, current, kinds(), spec, own_definitions=False)
                full.snapshot.save_html(str(Path(tmp) / "full.html"))
                out["drifted"] = dict(full.drifted)
            else:
                from mlops_pipelines.lib.monitoring.drift import compute_drift

                compute_drift(reference, current, kinds(), spec)
                out["verdict_s"] = time.perf_counter() - started
                info = reports.render_drift_report(
                    reference, current, kinds(), spec, Path(tmp) / "r.html", task["sample_rows"], seed=1
                )
                out["report_s"] = info.seconds
    out["seconds"] = time.perf_counter() - started
    out["cpu_s"] = cpu_s() - cpu_started
    out["peak_mb"] = rss_mb()
    return out


def measure(task: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(task)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(ours: dict[str, bool], theirs: dict[str, bool]) -> str:
    same = [c for c in ours if c in theirs and ours[c] == theirs[c]]
    differ = sorted(c for c in ours if c in theirs and ours[c] != theirs[c])
    return f"{len(same)}/{len(ours)} columns agree" + (f" (differ: {', '.join(differ)})" if differ else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated row counts per side")
    parser.add_argument(
        "--with-evidently-full", action="store_true", help="Evidently on all rows at >= 1M too"
    )
    parser.add_argument("--sample-rows", type=int, default=5000, help="report sample per side")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    table = []
    agreements = []
    for rows in (int(r) for r in args.rows.split(",")):
        floor = measure({"what": "floor", "rows": rows})
        results = [("numpy KS floor (1 thread)", "psi", floor)]
        for method in SPECS:
            ours = measure({"what": "ours", "rows": rows, "method": method})
            results.append((f"ours compute_drift [{method}]", method, ours))
        task = {"what": "verdict+report", "rows": rows, "method": "psi", "sample_rows": args.sample_rows}
        results.append((f"ours verdict + report on {args.sample_rows} rows [psi]", "psi", measure(task)))
        evidently: dict[str, dict] = {}
        if rows < 1_000_000 or args.with_evidently_full:
            for method in SPECS:
                evidently[method] = measure({"what": "evidently", "rows": rows, "method": method})
                results.append((f"Evidently DataDriftPreset, all rows [{method}]", method, evidently[method]))
                ours_flags = results[1 + list(SPECS).index(method)][2]["drifted"]
                agreements.append((rows, method, agreement(ours_flags, evidently[method]["drifted"])))
        for label, method, r in results:
            ev = evidently.get(method)
            vs_ev = f"{ev['seconds'] / r['seconds']:.1f}x faster" if ev is not None and r is not ev else ""
            notes = f"evidently import {r['import_s']:.1f} s not counted" if "import_s" in r else ""
            if "report_s" in r:
                notes += f"; verdict {r['verdict_s']:.2f} s + report {r['report_s']:.2f} s"
            ratio = r["seconds"] / floor["seconds"]
            table.append(
                (rows, label, r["seconds"], r["cpu_s"], r["peak_mb"], r["data_mb"], ratio, vs_ev, notes)
            )
        print(f"done {rows:,} rows", file=sys.stderr)

    header = f"{'rows':>10} | {'measurement':<50} | {'seconds':>8} | {'CPU s':>6} | {'peak MB':>8} | "
    print("\n" + header + f"{'data MB':>8} | {'x floor':>7} | {'vs Evidently':<14} | notes")
    print("-" * 160)
    for rows, label, seconds, cpu, peak, data, ratio, vs_ev, notes in table:
        print(
            f"{rows:>10,} | {label:<50} | {seconds:>8.2f} | {cpu:>6.2f} | {peak:>8.0f} | {data:>8.0f} | "
            f"{ratio:>7.1f} | {vs_ev:<14} | {notes}"
        )
    if agreements:
        print("\nPer-column verdicts, ours vs Evidently's built-in test of the same name and threshold")
        print("(its 'ks' is a p-value test, ours the KS statistic as a distance; its numeric 'psi' bins")
        print("differently and its 'chisquare' is a goodness-of-fit test, ours a homogeneity test):")
        for rows, method, text in agreements:
            print(f"  {rows:,} rows [{method}]: {text}")


if __name__ == "__main__":
    main()
