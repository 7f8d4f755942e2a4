"""Run every benchmark (benchmarks/bench_*.py with a main) in sequence, then summarize the goals.

    python benchmarks/run_all.py [--only load,ingest] [--skip serving] [--quick]
    ./dev bench [same arguments]

Each benchmark runs with its default arguments (with `--quick`, those that accept it get it),
its output streamed as it comes. A missed goal is reported, never a failure: the exit status
is 1 only when a benchmark itself crashed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import BENCH_DIR, REPO, fmt, print_table

# Lines the benchmarks print about their goals (see harness.report.print_goals).
GOAL_PREFIXES = ("GOAL ", "(reported, no goal)")


@dataclass(frozen=True)
class Outcome:
    name: str
    returncode: int
    seconds: float
    goals: tuple[str, ...]

    @property
    def passed(self) -> int:
        return sum(g.endswith(" PASS") for g in self.goals)

    @property
    def missed(self) -> int:
        return sum(g.endswith(" MISS") for g in self.goals)


def benchmarks() -> list[Path]:
    """Runnable benchmark scripts; helper modules named bench_* (no main) are left out."""
    found = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
            found.append(path)
    return found


def short(path: Path) -> str:
    return path.stem.removeprefix("bench_")


def run(path: Path, quick: bool) -> Outcome:
    argv = [sys.executable, str(path)]
    if quick and '"--quick"' in path.read_text(encoding="utf-8"):
        argv.append("--quick")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"\n{'=' * 100}\n{path.relative_to(REPO)} {' '.join(argv[2:])}\n{'=' * 100}", flush=True)
    started = time.perf_counter()
    goals: list[str] = []
    with subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(GOAL_PREFIXES):
                goals.append(line.strip())
    return Outcome(short(path), proc.returncode, time.perf_counter() - started, tuple(goals))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated names to run (e.g. load,ingest)")
    parser.add_argument("--skip", help="comma-separated names to leave out")
    parser.add_argument("--quick", action="store_true", help="pass --quick to benchmarks that accept it")
    args = parser.parse_args()
    chosen = benchmarks()
    known = [short(p) for p in chosen]
    for option in (args.only, args.skip):
        unknown = sorted(set((option or "").split(",")) - set(known) - {""})
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; known: {known}")
    if args.only:
        chosen = [p for p in chosen if short(p) in args.only.split(",")]
    if args.skip:
        chosen = [p for p in chosen if short(p) not in args.skip.split(",")]

    outcomes = [run(path, args.quick) for path in chosen]
    print(f"\n{'=' * 100}\nSUMMARY (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print_table(
        "Benchmarks",
        ["benchmark", "status", "minutes", "goals PASS", "goals MISS"],
        [
            (
                o.name,
                "ok" if o.returncode == 0 else f"FAILED ({o.returncode})",
                o.seconds / 60,
                o.passed,
                o.missed,
            )
            for o in outcomes
        ],
    )
    print()
    for outcome in outcomes:
        for goal in outcome.goals:
            print(f"{outcome.name:>8}: {goal}")
        if not outcome.goals:
            print(f"{outcome.name:>8}: no goal lines (numbers only; see its table above)")
    failed = [o.name for o in outcomes if o.returncode != 0]
    total = sum(o.seconds for o in outcomes)
    print(
        f"\n{len(outcomes)} benchmark(s) in {fmt(total / 60)} min" + (f"; FAILED: {failed}" if failed else "")
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
