"""Processes released together, for the races of fresh stores and homes.

Each process imports first (seconds), says it is ready and waits for one signal file, so all of
them reach the store or home under test within milliseconds of each other.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

_WAIT = """
import sys as _sys, time as _time
from pathlib import Path as _Path
_go, _ready = _Path(_sys.argv[1]), _Path(_sys.argv[2])
_ready.touch()
while not _go.exists():
    _time.sleep(0.005)
"""


def start_together(
    imports: str, body: str, args: Sequence[str], signals: Path, count: int
) -> list[subprocess.Popen[str]]:
    """`count` processes running `imports`, then `body` once all are ready (`sys.argv[3:]` is `args`)."""
    signals.mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                imports + _WAIT + body,
                str(signals / "go"),
                str(signals / f"ready{i}"),
                *args,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + 120
    while len(list(signals.glob("ready*"))) < count:
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate()[0][-2000:] for p in procs]
        time.sleep(0.05)
    (signals / "go").touch()
    return procs


def outputs(procs: Sequence[subprocess.Popen[str]], timeout: float = 180) -> list[str]:
    """Each process's output once it has ended (the last 1500 characters)."""
    return [p.communicate(timeout=timeout)[0][-1500:] for p in procs]
