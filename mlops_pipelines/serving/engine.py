"""Scoring threads that batch concurrent requests into one model call.

Each request's rows become a job on a queue. A scoring thread takes every job waiting when
it becomes free (never waiting for more), builds one frame per model, calls the shared
`build_features` and the model once, and hands each job its slice. Under load this amortises
pandas' fixed per-call cost over many requests; an idle service adds only a thread hop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlops_pipelines.lib.features import build_features, event_times
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.prediction_log import naive_utc

if TYPE_CHECKING:
    from mlops_pipelines.lib.prediction_log import Predictions
    from mlops_pipelines.serving.holder import ServingModel
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """One job's result: predictions, or the error the model raised."""

    predictions: Predictions | None
    error: BaseException | None
    latency_ms: float  # from queueing to result: queue wait plus the (batched) model call


@dataclass
class Job:
    rows: list[dict[str, Any]]
    request_times: list[datetime]  # one per row (naive UTC)
    model: ServingModel
    done: Callable[[Outcome], None]
    meta: Any = None  # opaque to the engine (the caller's bookkeeping)
    queued_at: float = field(default_factory=time.perf_counter)


def rows_frame(spec: ProjectSpec, rows: list[dict[str, Any]], request_times: list[datetime]) -> pd.DataFrame:
    """Validated rows as a frame typed like a conformed table, with `_event_time`.

    Dates become timestamps (as in the lake) so date-derived features match training.
    """
    data: dict[str, Any] = {name: [row.get(name) for row in rows] for name in spec.columns}
    frame = pd.DataFrame(data)
    for name, column in spec.columns.items():
        if column.dtype in ("date", "datetime"):
            frame[name] = naive_utc(frame[name])
    if spec.time.column:
        frame[EVENT_TIME] = naive_utc(event_times(frame, spec))
    else:
        # Arrival-ordered projects: a row happens when it arrives.
        frame[EVENT_TIME] = pd.Series(request_times, dtype="datetime64[ns]")
    return frame


def score_rows(
    spec: ProjectSpec, model: ServingModel, rows: list[dict[str, Any]], request_times: list[datetime]
) -> Predictions:
    """The one scoring path: rows -> conformed frame -> build_features -> model."""
    return model.predict(build_features(rows_frame(spec, rows, request_times), spec))


class ScoringEngine:
    """A scoring thread with a job queue; `submit` never blocks the caller."""

    def __init__(
        self, spec: ProjectSpec, name: str, max_batch_rows: int, max_queue: int = 0, threads: int | None = 1
    ) -> None:
        self._spec = spec
        self._threads = threads
        self._limited = threads is None
        self._name = name
        self._max_batch_rows = max_batch_rows
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self.batches = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"scoring-{self._name}", daemon=True)
            self._thread.start()

    def submit(self, job: Job) -> bool:
        """Queue a job; False when a bounded queue is full (the caller decides what that means)."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Finish every queued job, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _take(self, first: Job) -> tuple[list[Job], bool]:
        jobs, rows = [first], len(first.rows)
        while rows < self._max_batch_rows:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            rows += len(job.rows)
        return jobs, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stopping = self._take(first)
            groups: dict[int, list[Job]] = {}
            for job in jobs:
                groups.setdefault(id(job.model), []).append(job)
            for group in groups.values():
                self._score(group)
            self.batches += 1
            if stopping:
                return

    def _limit_threads(self) -> None:
        """Cap OpenMP/BLAS threads for calls made from this thread.

        OpenMP's thread count is per calling thread, so it is set here, once the model's
        libraries are loaded. Batches are small: spinning up a thread team costs more than it
        saves and competes with the event loop for the same cores.
        """
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=self._threads)
        self._limited = True

    def _score(self, jobs: list[Job]) -> None:
        if not self._limited:
            self._limit_threads()
        rows = [row for job in jobs for row in job.rows]
        times = [t for job in jobs for t in job.request_times]
        started = time.perf_counter()
        try:
            predictions = score_rows(self._spec, jobs[0].model, rows, times)
        except Exception as err:  # noqa: BLE001 - the model's failure is the jobs' outcome, not the thread's death
            if len(jobs) > 1:
                # One request's rows must not fail the others batched with it: score them apart.
                for job in jobs:
                    self._score([job])
                return
            elapsed = (time.perf_counter() - started) * 1000
            log.warning(
                "%s: model %s failed on %d row(s): %s", self._name, jobs[0].model.version, len(rows), err
            )
            for job in jobs:
                _deliver(job, Outcome(None, err, elapsed))
            return
        finished = time.perf_counter()
        if len(predictions) != len(rows):
            error = RuntimeError(
                f"model {jobs[0].model.version} returned {len(predictions)} for {len(rows)} rows"
            )
            for job in jobs:
                _deliver(job, Outcome(None, error, (finished - started) * 1000))
            return
        start = 0
        for job in jobs:
            end = start + len(job.rows)
            _deliver(
                job, Outcome(predictions.take(slice(start, end)), None, (finished - job.queued_at) * 1000)
            )
            start = end


def _deliver(job: Job, outcome: Outcome) -> None:
    try:
        job.done(outcome)
    except Exception:  # a caller that went away (closed loop) must not stop the thread
        log.exception("could not deliver a scoring result")
