"""What a benchmark prints and keeps: tables of medians and ratios, goal verdicts, result files,
and the one line a measured process reports its own numbers with (`report`).

A missed goal is reported (PASS / MISS), never a failure of the process: run_all.py reads the
`GOAL ...` lines back to summarize. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.measure import PROCESS_STARTED, RESULT_PREFIX, Summary
from harness.state import REPO, RESULTS_DIR

COLUMNS_LEGEND = (
    "wall = start-up + setup + work + shutdown of a fresh process; setup = imports, spec, definitions, "
    "instance;\nwork = the run, or the library calls; CPU = user + system of the whole process tree; "
    "peak MB = largest single process (ru_maxrss)"
)


def report(result: Mapping[str, Any]) -> None:
    """What a measured process prints last: its own numbers, for the parent to read.

    With the probe's clock readings these split the wall time into interpreter start-up (before
    the harness was imported), the process's own code, and shutdown (after this line: atexit
    handlers, threads, garbage collection).
    """
    stamps = {"t_code_start": PROCESS_STARTED, "t_report": time.time()}
    print(RESULT_PREFIX + json.dumps({**result, **stamps}, default=str), flush=True)


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def verdict(value: float | None, goal: float) -> str:
    """PASS or MISS against an upper bound; a miss is reported, never a failure of the process."""
    if value is None:
        return "n/a"
    return "PASS" if value <= goal else "MISS"


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table: text columns left-aligned, numbers right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(list(headers)))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def print_comparison(title: str, summaries: Sequence[Summary], baseline: Summary) -> None:
    """The standard table of fresh-process measurements, with ratios to `baseline`."""
    tree = any(s.tree_peak_mb is not None for s in summaries)
    headers = ["measurement", "wall s", "start-up s", "setup s", "work s", "shutdown s", "CPU s", "peak MB"]
    headers += ["tree MB"] if tree else []
    headers += ["x base wall", "x base work", "x base CPU"]
    rows = []
    for s in summaries:
        row: list[Any] = [
            s.label,
            s.seconds,
            s.startup_s,
            s.inner("setup_s"),
            s.inner("work_s"),
            s.shutdown_s,
        ]
        row += [s.cpu_s, s.peak_mb, *([s.tree_peak_mb] if tree else [])]
        row += [ratio(s.seconds, baseline.seconds), ratio(s.inner("work_s"), baseline.inner("work_s"))]
        rows.append([*row, ratio(s.cpu_s, baseline.cpu_s)])
    legend = COLUMNS_LEGEND + ("; tree MB = summed RSS of the live process tree, sampled" if tree else "")
    print_table(f"{title}\n({legend}; base = {baseline.label})", headers, rows)


def print_goals(goals: Sequence[tuple[str, float | None, float]]) -> list[dict[str, Any]]:
    """One line per goal: the measured ratio, the bound and PASS/MISS; returns them for the JSON."""
    out = []
    print()
    for label, value, goal in goals:
        status = verdict(value, goal)
        shown = "-" if value is None else f"{value:.2f}x"
        print(f"GOAL {label}: {shown} (goal <= {goal:g}x) {status}")
        out.append({"goal": label, "ratio": value, "bound": goal, "status": status})
    return out


def save_results(name: str, payload: Mapping[str, Any]) -> Path:
    """benchmarks/results/<name>.json: every number, with the machine it was measured on."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    body = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        **payload,
    }
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    print(f"\nresults: {path.relative_to(REPO)}")
    return path
