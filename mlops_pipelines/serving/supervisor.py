"""Watches the service's worker threads, restarts them, and says when readiness must fail.

Workers: the answering and shadow scoring engines and the prediction-log writer. Every
`interval_seconds` (also when nobody calls /readyz) the supervisor:

- restarts a worker whose thread died (an exception escaped it);
- replaces a scoring thread stuck in one model call longer than `hang_seconds`; its queued
  jobs go to the new thread and its own requests have already timed out with 504. A stuck
  log write cannot be taken over (its rows are mid-flight), so it fails readiness instead;
- allows `max_restarts` per worker in `window_seconds`: past that, the worker is failing
  over and over, and readiness fails so the load balancer sends traffic elsewhere;
- then calls `on_tick`, which refreshes the readiness gauges of /metrics.

Problems carry public text only: the worker's name and what happened, never exception text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class Worker(Protocol):
    @property
    def name(self) -> str: ...

    def alive(self) -> bool: ...

    def busy_seconds(self) -> float | None:
        """How long the current call has run; None when idle."""

    def restart(self) -> bool:
        """Start a fresh thread if the worker can be taken over; False when it cannot."""


@dataclass(frozen=True)
class WorkerProblem:
    worker: str
    fatal: bool  # readiness fails while it lasts
    reason: str


class Supervisor:
    def __init__(
        self,
        workers: Sequence[Worker],
        hang_seconds: float,
        interval_seconds: float = 1.0,
        max_restarts: int = 5,
        window_seconds: float = 300.0,
        on_restart: Callable[[str, str], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        if hang_seconds <= 0 or interval_seconds <= 0 or max_restarts < 0:
            raise ValueError(
                "the supervisor needs hang_seconds > 0, interval_seconds > 0 and max_restarts >= 0, "
                f"got {hang_seconds}, {interval_seconds}, {max_restarts}"
            )
        self._workers = list(workers)
        self.hang_seconds = hang_seconds
        self._interval = interval_seconds
        self._max_restarts = max_restarts
        self._window = window_seconds
        self._on_restart = on_restart  # (worker, why) for the restart counter
        self._on_tick = on_tick
        self._restarts: dict[str, deque[float]] = {w.name: deque() for w in self._workers}
        self.problems: tuple[WorkerProblem, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _recent(self, name: str, now: float) -> deque[float]:
        times = self._restarts[name]
        while times and now - times[0] > self._window:
            times.popleft()
        return times

    def _restart(self, worker: Worker, why: str, now: float) -> bool:
        """Restart `worker` if its budget allows; True when it was restarted."""
        recent = self._recent(worker.name, now)
        if len(recent) >= self._max_restarts:
            return False
        if not worker.restart():
            log.error("%s %s; it cannot be taken over", worker.name, why)
            return False
        log.error("%s %s; started a new thread", worker.name, why)
        recent.append(now)
        if self._on_restart is not None:
            self._on_restart(worker.name, why.split(" ", 1)[0])
        return True

    def _check_one(self, worker: Worker, now: float) -> WorkerProblem | None:
        if not worker.alive():
            if self._restart(worker, "died", now) and worker.alive():
                return WorkerProblem(worker.name, False, f"{worker.name} thread died and was restarted")
            return WorkerProblem(worker.name, True, f"{worker.name} thread keeps dying (restarts exhausted)")
        busy = worker.busy_seconds()
        if busy is None or busy <= self.hang_seconds:
            recent = len(self._recent(worker.name, now))
            if recent:
                text = f"{worker.name} restarted {recent} time(s) in the last {self._window:.0f} s"
                return WorkerProblem(worker.name, False, text)
            return None
        stuck = f"{worker.name}: one call has run for {busy:.0f} s (hang limit {self.hang_seconds:.0f} s)"
        self._restart(worker, f"hung for {busy:.0f} s", now)
        still = worker.busy_seconds()
        if still is not None and still > self.hang_seconds:
            return WorkerProblem(worker.name, True, stuck)  # not taken over: readiness fails
        return WorkerProblem(worker.name, False, f"{worker.name} thread hung and was replaced")

    def check(self) -> tuple[WorkerProblem, ...]:
        """One pass over every worker; returns (and keeps) the problems found."""
        now = time.monotonic()
        found = [self._check_one(worker, now) for worker in self._workers]
        self.problems = tuple(p for p in found if p is not None)
        if self._on_tick is not None:
            self._on_tick()
        return self.problems

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any one bad pass; the cause is logged
                log.exception("supervisor pass failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
