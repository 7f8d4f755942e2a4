"""Fresh-process measurements: run a command under the probe, collect samples, take medians.

A measured command reports its own numbers by printing one line `BENCH_RESULT {json}`
(`harness.report.report`); `measure` reads it beside the probe's line and returns a
`Sample`. `interleaved` takes repeated samples of several measurements in turn, so the
drifting background load of a shared machine hits all of them alike; `Summary` holds their
medians. Standard library only.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.probe import PROBE_PREFIX, PROBE_SCRIPT
from harness.state import REPO, note, python

# When this process started its own code (a measured process imports the harness first).
PROCESS_STARTED = time.time()
RESULT_PREFIX = "BENCH_RESULT "


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


def measure(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    tree: bool = False,
    cwd: Path = REPO,
    expect_result: bool = True,
) -> Sample:
    """Run `argv` in a fresh process under a probe; its wall time, peak RSS and BENCH_RESULT."""
    probe = [python(), str(PROBE_SCRIPT), *(["--tree"] if tree else []), "--", *argv]
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


def self_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
