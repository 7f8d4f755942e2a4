"""Shared helpers of the benchmarks: fresh-process measurements, medians, tables, results.

Standard library only: this file is also the probe that wraps each measured process
(`python benchmarks/common.py --probe -- CMD...`). The probe starts CMD, times it, and reads
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` once CMD has exited. That number is a
high-water mark over every child a process ever waited for, so it is exact only in a process
that has had a single child: hence one short-lived probe per measurement, not one reading in
the long-lived benchmark process. It covers the whole tree (a Dagster run's step processes are
reaped by the run process, so they count), as the largest single process. With `--tree` the
probe also samples the summed RSS of the live process tree every 0.2 s (step processes of the
multiprocess executor live side by side).

A measured command reports its own numbers by printing one line `BENCH_RESULT {json}`.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = REPO.parent / "shared" / "data"
RESULTS_DIR = BENCH_DIR / "results"
# When this process started its own code (a measured process imports this module first).
PROCESS_STARTED = time.time()
RESULT_PREFIX = "BENCH_RESULT "
PROBE_PREFIX = "BENCH_PROBE "
# Variables that would point a measured process at someone else's state.
_STATE_VARIABLES = (
    "MLOPS_HOME",
    "DAGSTER_HOME",
    "MLOPS_ENV",
    "MLOPS_PROJECTS_DIR",
    "MLOPS_TRACKING_URI",
    "MLOPS_REGISTRY_URI",
    "MLOPS_ARTIFACT_ROOT",
    "MLOPS_LAKE_ROOT",
    "MLOPS_DATA_DIR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    # Cached bytecode: a process that recompiles mlflow or GX on every start measures the compiler.
    "PYTHONDONTWRITEBYTECODE",
)


class BenchError(RuntimeError):
    """A measured process failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Sample:
    """One fresh-process measurement."""

    seconds: float  # wall time of the whole process, start to exit
    peak_mb: float  # largest single-process RSS in the tree (ru_maxrss)
    cpu_s: float  # user + system CPU of the whole tree: steadier than wall time on a busy machine
    tree_peak_mb: float | None  # summed RSS of the live tree, sampled (None unless asked for)
    result: dict[str, Any] = field(default_factory=dict)  # what the process printed as BENCH_RESULT
    startup_s: float | None = None  # interpreter start until the measured code ran
    shutdown_s: float | None = None  # its last line until the process had exited


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values present; None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True)
class Summary:
    """Medians of repeated samples of one measurement."""

    label: str
    samples: tuple[Sample, ...]

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mb(self) -> float:
        return statistics.median(s.peak_mb for s in self.samples)

    @property
    def cpu_s(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def tree_peak_mb(self) -> float | None:
        return median(s.tree_peak_mb for s in self.samples)

    @property
    def startup_s(self) -> float | None:
        return median(s.startup_s for s in self.samples)

    @property
    def shutdown_s(self) -> float | None:
        return median(s.shutdown_s for s in self.samples)

    def inner(self, key: str) -> float | None:
        """Median of a number each process reported about itself (e.g. its timed section)."""
        return median(s.result.get(key) for s in self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "median_seconds": self.seconds,
            "median_peak_mb": self.peak_mb,
            "median_cpu_s": self.cpu_s,
            "median_tree_peak_mb": self.tree_peak_mb,
            "samples": [
                {
                    "seconds": s.seconds,
                    "peak_mb": s.peak_mb,
                    "cpu_s": s.cpu_s,
                    "tree_peak_mb": s.tree_peak_mb,
                    "startup_s": s.startup_s,
                    "shutdown_s": s.shutdown_s,
                    "result": s.result,
                }
                for s in self.samples
            ],
        }


def python() -> str:
    return sys.executable


def clean_env() -> dict[str, str]:
    """This environment without anything that points at existing state or disables bytecode."""
    env = {k: v for k, v in os.environ.items() if k not in _STATE_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def state_env(
    home: Path,
    data_dir: Path = DATA_DIR,
    extra: Mapping[str, str] | None = None,
    instance: Path | None = None,
) -> dict[str, str]:
    """The environment of a process that keeps all its state under `home` (an embedded setup).

    `instance`: a DAGSTER_HOME to start from (see `instance_template`), copied into the home.
    """
    env = clean_env()
    dagster_home = home / "dagster"
    if instance is not None:
        shutil.copytree(instance, dagster_home, dirs_exist_ok=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env.update(
        {
            "MLOPS_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "MLOPS_DATA_DIR": str(data_dir),
            "MLOPS_ENV": "local",
        }
    )
    env.update(extra or {})
    return env


_INSTANCE_WARM_UP = """
import dagster as dg

@dg.op
def noop() -> None:
    return None

@dg.job
def warm_up() -> None:
    noop()

with dg.DagsterInstance.get() as instance:
    result = warm_up.execute_in_process(instance=instance)
    instance.delete_run(result.run_id)
"""


def instance_template() -> Path:
    """A Dagster instance (SQLite) whose storage exists, as it does wherever runs are launched.

    Creating the schema of a brand-new instance costs its first process 1-2 s; a run launched
    by `dagster dev` or the daemon never pays it, so a measured run should not either.
    """
    dagster_home = fresh_dir("instance") / "dagster"
    state_env(dagster_home.parent)
    env = {**clean_env(), "DAGSTER_HOME": str(dagster_home)}
    subprocess.run([python(), "-c", _INSTANCE_WARM_UP], env=env, check=True, capture_output=True, cwd=REPO)
    return dagster_home


def measure(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    tree: bool = False,
    cwd: Path = REPO,
    expect_result: bool = True,
) -> Sample:
    """Run `argv` in a fresh process under a probe; its wall time, peak RSS and BENCH_RESULT."""
    probe = [python(), str(Path(__file__).resolve()), "--probe", *(["--tree"] if tree else []), "--", *argv]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            probe,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # so a timeout can stop the whole tree this call started
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise BenchError(f"{' '.join(argv[:4])}... timed out after {timeout:.0f} s") from None
        err.seek(0)
        stderr = err.read()
    probe_line = [line for line in out.splitlines() if line.startswith(PROBE_PREFIX)]
    result_line = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not probe_line:
        raise BenchError(f"{' '.join(argv[:4])}... failed:\n{stderr[-4000:]}\n{out[-2000:]}")
    probed = json.loads(probe_line[-1][len(PROBE_PREFIX) :])
    if probed["returncode"] != 0 or (expect_result and not result_line):
        raise BenchError(
            f"{' '.join(argv[:4])}... exited {probed['returncode']}:\n{stderr[-4000:]}\n{out[-2000:]}"
        )
    result = json.loads(result_line[-1][len(RESULT_PREFIX) :]) if result_line else {}
    stamped = "t_code_start" in result
    return Sample(
        seconds=probed["seconds"],
        peak_mb=probed["peak_mb"],
        cpu_s=probed["cpu_s"],
        tree_peak_mb=probed.get("tree_peak_mb"),
        result=result,
        startup_s=result["t_code_start"] - probed["started_at"] if stamped else None,
        shutdown_s=probed["ended_at"] - result["t_report"] if stamped else None,
    )


def interleaved(
    runs: Mapping[str, Callable[[], Sample]], labels: Mapping[str, str], repeats: int
) -> dict[str, Summary]:
    """`repeats` samples of each measurement taken in turn (A, B, A, B, ...), so the drifting
    background load of a shared machine hits all of them alike; progress goes to stderr."""
    samples: dict[str, list[Sample]] = {name: [] for name in runs}
    for i in range(repeats):
        for name, one in runs.items():
            sample = one()
            samples[name].append(sample)
            note(f"  {name} [{i + 1}/{repeats}]: {sample.seconds:.2f} s, peak {sample.peak_mb:.0f} MB")
    return {name: Summary(labels[name], tuple(got)) for name, got in samples.items()}


def step_seconds(instance: Any, run_id: str) -> dict[str, float]:
    """Each step's duration in a Dagster run, as the instance recorded it."""
    stats = instance.get_run_step_stats(run_id)
    return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats if s.start_time}


def step_medians(summary: Summary, key: str = "steps") -> dict[str, float]:
    """Median over the samples of each step's seconds (reported by the processes under `key`)."""
    names = dict.fromkeys(name for s in summary.samples for name in s.result.get(key, {}))
    return {name: median(s.result.get(key, {}).get(name) for s in summary.samples) or 0.0 for name in names}


def report(result: Mapping[str, Any]) -> None:
    """What a measured process prints last: its own numbers, for the parent to read.

    With the probe's clock readings these split the wall time into interpreter start-up (before
    this module ran), the process's own code, and shutdown (after this line: atexit handlers,
    threads, garbage collection).
    """
    stamps = {"t_code_start": PROCESS_STARTED, "t_report": time.time()}
    print(RESULT_PREFIX + json.dumps({**result, **stamps}, default=str), flush=True)


def self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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


COLUMNS_LEGEND = (
    "wall = start-up + setup + work + shutdown of a fresh process; setup = imports, spec, definitions, "
    "instance;\nwork = the run, or the library calls; CPU = user + system of the whole process tree; "
    "peak MB = largest single process (ru_maxrss)"
)


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


# Package parts that cannot change what a setup stored (tables, runs, models): editing them keeps caches.
_NOT_STATE = (
    "serving/",
    "cli.py",
    "demo.py",
    "reproduce.py",
    "lib/reproduction",
    "schedules.py",
    "sensors.py",
)


def source_fingerprint() -> str:
    """Hash of the code and specs that shape stored state: a setup built by other code is stale."""
    import hashlib

    digest = hashlib.sha256()
    package = REPO / "mlops_pipelines"
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.yaml")]):
        if str(path.relative_to(package)).startswith(_NOT_STATE):
            continue
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_setup(
    name: str, key: Mapping[str, Any], build: Callable[[Path], dict[str, Any]], fresh: bool = False
) -> tuple[Path, dict[str, Any]]:
    """A state directory built once by `build(home)` and reused while `key` and the code are unchanged.

    Lives under benchmarks/results/cache/<name>/ (git-ignored); `marker.json` is written last,
    so a setup that failed half-way is rebuilt, never reused.
    """
    root = RESULTS_DIR / "cache" / name
    home = root / "home"
    marker = root / "marker.json"
    wanted = {**key, "code": source_fingerprint()}
    if not fresh and marker.is_file() and home.is_dir():
        stored = json.loads(marker.read_text(encoding="utf-8"))
        if stored.get("key") == wanted:
            note(f"setup: reusing {root.relative_to(REPO)} (built {stored.get('built_at')})")
            return home, stored.get("info", {})
    remove(root)
    home.mkdir(parents=True)
    note(f"setup: building {root.relative_to(REPO)} (untimed; cached for later runs)")
    started = time.perf_counter()
    info = build(home)
    info["setup_seconds"] = time.perf_counter() - started
    record = {"key": wanted, "info": info, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    marker.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return home, info


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mlops-bench-{prefix}-"))


def working_copy(home: Path, prefix: str) -> Path:
    """A throw-away copy of a cached state directory, so measurements never change the cache.

    MLflow keeps absolute artifact paths: the copy's registry still reads model artifacts from
    the cache, which nothing here writes.
    """
    target = fresh_dir(prefix) / "home"
    shutil.copytree(home, target)
    return target


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The probe (runs as its own small process around each measured command).


def _tree_rss_kb(root: int) -> int:
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
            continue
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


def _probe(argv: list[str], tree: bool) -> int:
    started_at = time.time()
    started = time.perf_counter()
    child = subprocess.Popen(argv)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not stop.wait(0.2):
            peak_tree = max(peak_tree, _tree_rss_kb(child.pid))

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
    sys.stdout.flush()
    probed = {
        "returncode": returncode,
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "tree_peak_mb": peak_tree / 1024 if tree else None,
        "started_at": started_at,
        "ended_at": ended_at,
    }
    print(PROBE_PREFIX + json.dumps(probed), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        args = sys.argv[2:]
        want_tree = args[0] == "--tree"
        if want_tree:
            args = args[1:]
        if not args or args[0] != "--":
            sys.exit("usage: common.py --probe [--tree] -- CMD...")
        sys.exit(_probe(args[1:], want_tree))
    sys.exit("common.py is a helper module; run a benchmarks/bench_*.py file")
