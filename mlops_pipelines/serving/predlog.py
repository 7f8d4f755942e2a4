"""The prediction-log writer: batched Delta appends off the request path.

A request only appends its entry to a queue. A writer thread gathers entries and writes one
Delta commit every `flush_rows` rows or `flush_seconds`, whichever comes first, through a
sink (`logsink`: the service's is a child process, so building and writing rows does not take
the event loop's GIL); `close()` drains the queue and writes the rest, so a graceful shutdown
(SIGTERM) loses nothing it acknowledged. A failed write keeps its rows for the next attempt,
up to `max_pending_rows`; rows that cannot be built at all are reported and dropped. The
thread is supervised (`supervisor.py`): a thread that died is restarted with its rows, and a
write stuck past the hang limit fails readiness. Every `rotation.every_seconds` the writer
applies the rotation rule (`rotation.py`) that bounds the log's disk use.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from mlops_pipelines.serving.logsink import (
    InProcessSink,
    LogBatch,
    LogEntry,
    LogRowsError,
    LogSink,
    LogWriteError,
    log_frame,
)
from mlops_pipelines.serving.rotation import RotationRule

if TYPE_CHECKING:
    from mlops_pipelines.serving.metrics import ServingMetrics
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)


class PredictionLogWriter:
    name = "prediction-log"

    def __init__(
        self,
        spec: ProjectSpec,
        uri: str,
        flush_rows: int = 1000,
        flush_seconds: float = 1.0,
        metrics: ServingMetrics | None = None,
        sink: LogSink | None = None,
        max_pending_rows: int = 500_000,
        rotation: RotationRule | None = None,
    ) -> None:
        self._spec = spec
        self.uri = uri
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._metrics = metrics
        self._sink: LogSink = sink if sink is not None else InProcessSink(spec, uri)
        self._max_pending_rows = max_pending_rows
        self._queue: queue.SimpleQueue[LogEntry | None] = queue.SimpleQueue()
        self._entries: list[LogEntry] = []
        self._unwritten: list[LogEntry] = []  # entries whose write failed, retried first
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._submitted_rows = 0  # since the last flush; a wake-up hint, not an exact count
        self._rotation = rotation
        self._rotated_at = time.monotonic()
        self._generation = 0
        self._busy_since: float | None = None  # monotonic start of the write in progress
        self.rows_written = 0
        self.rows_lost = 0  # acknowledged rows that could not be written by close()
        self.restarts = 0
        self.last_error: str | None = None
        self.last_error_kind: str | None = None  # the error's type: what /readyz may show

    def submit(self, entry: LogEntry) -> None:
        self._queue.put(entry)
        # The writer sleeps until its flush is due; it is woken early only for a full batch,
        # never per request (each wake-up is a GIL hand-off the request path pays for).
        self._submitted_rows += len(entry.rows)
        if self._submitted_rows >= self._flush_rows:
            self._wake.set()

    def start(self) -> None:
        start_sink = getattr(self._sink, "start", None)
        if start_sink is not None:
            start_sink()  # a child process starts now, not on the first flush
        if self._thread is None:
            self._spawn()

    def _spawn(self) -> None:
        self._generation += 1
        self._busy_since = None
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{self._generation}", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def busy_seconds(self) -> float | None:
        since = self._busy_since
        return None if since is None else time.monotonic() - since

    def restart(self) -> bool:
        """A new thread after the old one died (its rows are still on this object)."""
        if self._thread is None or self._thread.is_alive():
            return False  # stopped on purpose, or alive (a hung write cannot be taken over safely)
        self.restarts += 1
        self._spawn()
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop the thread; reports rows it could not write."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("prediction log writer did not finish within %.0f s", timeout)
        if self._thread is None or not self._thread.is_alive():
            # Never started, or died: this thread drains and writes what is left.
            self._drain_into_entries()
            self._flush()
        self._thread = None
        self._sink.close()
        unwritten = self._pending_rows()
        if unwritten:
            self.rows_lost += unwritten
            log.error(
                "prediction log: %d acknowledged row(s) could not be written to %s at shutdown: %s",
                unwritten,
                self.uri,
                self.last_error,
            )

    def pending_rows(self) -> int:
        """Rows accepted but not yet written (read from other threads: a snapshot, not exact)."""
        return self._pending_rows()

    def _pending_rows(self) -> int:
        return sum(len(e.rows) for e in self._entries) + sum(len(e.rows) for e in self._unwritten)

    def _accept(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        if self._metrics is not None:
            self._metrics.observe_predictions(entry.route, entry.predictions)

    def _drain_into_entries(self) -> bool:
        """Move queued entries into the batch; True when the stop sentinel was seen."""
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return False
            if entry is None:
                return True
            self._accept(entry)

    def _run(self) -> None:
        deadline = time.monotonic() + self._flush_seconds
        while True:
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            stopping = self._drain_into_entries()
            if stopping or time.monotonic() >= deadline or self._pending_rows() >= self._flush_rows:
                self._submitted_rows = 0
                self._flush()
                deadline = time.monotonic() + self._flush_seconds
                if not stopping:
                    self._maybe_rotate()
            if self._metrics is not None:
                self._metrics.log_pending.set(self._pending_rows())
            if stopping:
                return

    def _maybe_rotate(self) -> None:
        rule = self._rotation
        if rule is None or time.monotonic() - self._rotated_at < rule.every_seconds:
            return
        self._rotated_at = time.monotonic()
        # Not timed as a hang: compacting a month of rows may take longer than any one write
        # should, and rows wait in memory meanwhile (the sink's reply timeout bounds it).
        try:
            done = self._sink.rotate(rule, datetime.now(UTC).replace(tzinfo=None))
        except LogWriteError as err:  # the next rotation tries again; the log itself is unaffected
            log.error("prediction log: rotation of %s failed: %s", self.uri, err)
            if self._metrics is not None:
                self._metrics.log_errors.inc()
            return
        log.info(
            "prediction log: rotated; %d rows deleted, %d files removed",
            done.rows_deleted,
            done.files_removed,
        )

    def frame(self, entries: list[LogEntry]) -> pd.DataFrame:
        """The log rows `entries` become (what the sink writes)."""
        return log_frame(self._spec, LogBatch.pack(entries))

    def _buildable(self, entry: LogEntry) -> bool:
        """Whether one entry alone makes log rows (a rare check, on the failure path only)."""
        try:
            log_frame(self._spec, LogBatch.pack([entry]))
        except Exception:  # noqa: BLE001 - any failure means this entry is the one at fault
            return False
        return True

    def _flush(self) -> None:
        batch, self._unwritten, self._entries = [*self._unwritten, *self._entries], [], []
        if not batch:
            return
        self._busy_since = time.monotonic()
        try:
            written = self._sink.write(batch)
        except LogRowsError as err:  # would fail forever: drop the entries at fault, keep the rest
            self.last_error, self.last_error_kind = str(err), type(err).__name__
            bad = {id(e) for e in batch if not self._buildable(e)} or {id(e) for e in batch}
            log.error("prediction log: dropped %d of %d entries: %s", len(bad), len(batch), err)
            if self._metrics is not None:
                self._metrics.log_errors.inc()
            self._unwritten = [e for e in batch if id(e) not in bad]  # written on the next flush
            return
        except LogWriteError as err:  # the lake is down or busy: keep the rows and retry on the next flush
            self.last_error, self.last_error_kind = str(err), type(err).__name__
            rows = sum(len(e.rows) for e in batch)
            log.error("prediction log: write of %d rows to %s failed: %s", rows, self.uri, err)
            if self._metrics is not None:
                self._metrics.log_errors.inc()
            self._unwritten = _newest(batch, self._max_pending_rows)
            return
        except BaseException:
            # Anything else kills the thread (the supervisor restarts it): the rows stay here.
            self._unwritten = batch
            raise
        finally:
            self._busy_since = None
        self.rows_written += written
        self.last_error = self.last_error_kind = None
        if self._metrics is not None:
            self._metrics.log_rows.inc(written)


def _newest(entries: list[LogEntry], max_rows: int) -> list[LogEntry]:
    """The newest entries holding at most `max_rows` rows (an outage longer than that drops the oldest)."""
    kept: list[LogEntry] = []
    rows = 0
    for entry in reversed(entries):
        rows += len(entry.rows)
        if rows > max_rows:
            log.error("prediction log: over %d unwritten rows; dropping the oldest", max_rows)
            break
        kept.append(entry)
    return kept[::-1]
