"""Where batches form: on the event loop for the response path, on a thread for shadow work.

`LoopEngine` (the response path) scores on the event loop itself. A request's job is queued
and one drain is scheduled with `call_soon`, which runs after every request the loop has
already read: concurrent requests batch up by themselves, with no thread hop and no GIL
hand-off between a parser thread and a scoring thread. The loop is busy while a batch scores,
and requests that arrive meanwhile form the next batch.

`ThreadEngine` (shadow scoring) runs on its own thread with a bounded queue, so extra work can
be dropped, never queued without limit, and never delays an answer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.serving.scoring import BatchScorer, Job

log = logging.getLogger(__name__)


def _take(source: deque[Job], max_rows: int) -> list[Job]:
    jobs: list[Job] = []
    rows = 0
    while source and (not jobs or rows + len(source[0].rows) <= max_rows):
        job = source.popleft()
        jobs.append(job)
        rows += len(job.rows)
    return jobs


class LoopEngine:
    """Batches jobs submitted on the event loop and scores them there."""

    def __init__(self, scorer: BatchScorer, max_batch_rows: int) -> None:
        self._scorer = scorer
        self._max_rows = max_batch_rows
        self._pending: deque[Job] = deque()
        self._scheduled = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Nothing to start: batches run on the loop that submits them."""

    def submit(self, job: Job) -> bool:
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)
        return True

    def _drain(self) -> None:
        batch = _take(self._pending, self._max_rows)
        if self._pending:
            asyncio.get_running_loop().call_soon(self._drain)
        else:
            self._scheduled = False
        self._scorer.run(batch)

    def stop(self, timeout: float = 10.0) -> None:
        """Score anything still queued (normally nothing: the server drained its requests)."""
        while self._pending:
            self._scorer.run(_take(self._pending, self._max_rows))
        self._scheduled = False


class ThreadEngine:
    """A scoring thread with a bounded job queue; `submit` never blocks the caller."""

    def __init__(self, scorer: BatchScorer, name: str, max_batch_rows: int, max_queue: int = 0) -> None:
        self._scorer = scorer
        self._name = name
        self._max_rows = max_batch_rows
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"scoring-{self._name}", daemon=True)
            self._thread.start()

    def submit(self, job: Job) -> bool:
        """Queue a job; False when the queue is full (the caller decides what that means)."""
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
        if self._thread.is_alive():
            log.error("%s scoring thread did not finish within %.0f s", self._name, timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            waiting: deque[Job] = deque([first])
            stopping = False
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                waiting.append(job)
            while waiting:
                self._scorer.run(_take(waiting, self._max_rows))
            if stopping:
                return
