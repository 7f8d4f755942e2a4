"""The probe: a small process that runs one measured command and reports what it cost.

    python benchmarks/harness/probe.py [--tree] -- CMD...

Standard library only, and importable without the rest of the harness, because it runs as
its own short-lived process around each measured command (`measure.measure` starts it). It
starts CMD, times it, and reads `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` once CMD has
exited. That number is a high-water mark over every child a process ever waited for, so it is
exact only in a process that has had a single child: hence one short-lived probe per
measurement, not one reading in the long-lived benchmark process. It covers the whole tree (a
Dagster run's step processes are reaped by the run process, so they count), as the largest
single process. With `--tree` the probe also samples the summed RSS of the live process tree
every 0.2 s (step processes of the multiprocess executor live side by side).

The probe prints one line `BENCH_PROBE {json}` (returncode, seconds, peak_mb, cpu_s,
tree_peak_mb, started_at, ended_at) and exits 0 whatever CMD returned.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

PROBE_PREFIX = "BENCH_PROBE "
PROBE_SCRIPT = Path(__file__).resolve()
_SAMPLE_SECONDS = 0.2


def tree_rss_kb(root: int) -> int:
    """Summed VmRSS of `root` and its descendants, from /proc (one scan)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            resident_pages = int((entry / "statm").read_text(encoding="ascii").split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the process exited between the listing and the read: it holds no memory now
        pid = int(entry.name)
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[pid] = resident_pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    members, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        for pid, parent in parents.items():
            if parent == current and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in members)


def probe(argv: list[str], tree: bool) -> dict[str, object]:
    """Run `argv` to completion; its return code, wall seconds, peak RSS and CPU of its tree."""
    started_at = time.time()
    started = time.perf_counter()
    child = subprocess.Popen(argv)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not stop.wait(_SAMPLE_SECONDS):
            peak_tree = max(peak_tree, tree_rss_kb(child.pid))

    sampler = threading.Thread(target=sample, daemon=True) if tree else None
    if sampler is not None:
        sampler.start()
    returncode = child.wait()
    seconds = time.perf_counter() - started
    ended_at = time.time()
    stop.set()
    if sampler is not None:
        sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "returncode": returncode,
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "tree_peak_mb": peak_tree / 1024 if tree else None,
        "started_at": started_at,
        "ended_at": ended_at,
    }


def main(args: list[str]) -> int:
    tree = bool(args) and args[0] == "--tree"
    if tree:
        args = args[1:]
    if len(args) < 2 or args[0] != "--":
        sys.exit("usage: probe.py [--tree] -- CMD...")
    probed = probe(args[1:], tree)
    sys.stdout.flush()  # CMD's own output first, the probe's line last
    print(PROBE_PREFIX + json.dumps(probed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
