"""The prediction-log writer: batched Delta appends off the request path.

A request only appends its entry to a queue. A writer thread gathers entries and writes one
Delta commit every `flush_rows` rows or `flush_seconds`, whichever comes first; `close()`
drains the queue and writes the rest, so a graceful shutdown (SIGTERM) loses nothing. A failed
write keeps its rows for the next attempt, up to `max_pending_rows`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.prediction_log import Predictions, Route, build_log_frame
from mlops_pipelines.serving.scoring import rows_frame

if TYPE_CHECKING:
    from mlops_pipelines.serving.metrics import ServingMetrics
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogEntry:
    """Scored rows of one request on one route."""

    rows: list[dict[str, Any]]
    request_times: list[datetime]  # naive UTC, one per row
    predictions: Predictions
    route: Route
    model_version: str
    request_id: str
    latency_ms: float
    logged_at: datetime


def _default_append(uri: str, frame: pd.DataFrame) -> int:
    from mlops_pipelines.lib.lake import append

    return append(uri, frame)


class PredictionLogWriter:
    def __init__(
        self,
        spec: ProjectSpec,
        uri: str,
        flush_rows: int = 1000,
        flush_seconds: float = 1.0,
        metrics: ServingMetrics | None = None,
        append: Callable[[str, pd.DataFrame], int] = _default_append,
        max_pending_rows: int = 500_000,
    ) -> None:
        self._spec = spec
        self.uri = uri
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._metrics = metrics
        self._append = append
        self._max_pending_rows = max_pending_rows
        self._queue: queue.SimpleQueue[LogEntry | None] = queue.SimpleQueue()
        self._entries: list[LogEntry] = []
        self._unwritten: list[pd.DataFrame] = []  # frames whose write failed, retried first
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.last_error: str | None = None

    def submit(self, entry: LogEntry) -> None:
        self._queue.put(entry)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then stop the thread."""
        if self._thread is None:
            self._drain_into_entries()
            self._flush()
            return
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("prediction log writer did not finish within %.0f s", timeout)
        self._thread = None

    def _pending_rows(self) -> int:
        return sum(len(e.rows) for e in self._entries) + sum(len(f) for f in self._unwritten)

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
            stopping = self._wait_for_entries(deadline)
            if stopping or time.monotonic() >= deadline or self._pending_rows() >= self._flush_rows:
                self._flush()
                deadline = time.monotonic() + self._flush_seconds
            if self._metrics is not None:
                self._metrics.log_pending.set(self._pending_rows())
            if stopping:
                return

    def _wait_for_entries(self, deadline: float) -> bool:
        """Take what arrives until `deadline`; True when the stop sentinel was seen."""
        try:
            first = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if first is None:
            return True
        self._accept(first)
        return self._drain_into_entries()

    def frame(self, entries: list[LogEntry]) -> pd.DataFrame:
        """The log rows of `entries`, built once for the whole batch."""
        rows = [row for e in entries for row in e.rows]
        times = [t for e in entries for t in e.request_times]
        counts = [len(e.rows) for e in entries]

        def spread(values: list[Any], dtype: Any = object) -> Any:
            return np.repeat(np.array(values, dtype=dtype), counts)

        # With a time column, build_log_frame derives the event time from it; arrival-ordered
        # projects take the request time, which rows_frame adds.
        frame = rows_frame(self._spec, rows, times, event_time=self._spec.time.column is None)
        return build_log_frame(
            self._spec,
            frame,
            Predictions.concat([e.predictions for e in entries]),
            route=spread([e.route for e in entries]),
            model_version=spread([e.model_version for e in entries]),
            request_ids=spread([e.request_id for e in entries]),
            latency_ms=spread([e.latency_ms for e in entries], "float64"),
            logged_at=spread([e.logged_at for e in entries], "datetime64[us]"),
        )

    def _flush(self) -> None:
        if self._entries:
            entries, self._entries = self._entries, []
            try:
                self._unwritten.append(self.frame(entries))
            except Exception as err:  # noqa: BLE001 - a frame that cannot be built would fail forever: report, drop
                self.last_error = f"cannot build log rows: {type(err).__name__}: {err}"
                log.error("prediction log: dropped %d entries: %s", len(entries), self.last_error)
                if self._metrics is not None:
                    self._metrics.log_errors.inc()
        if not self._unwritten:
            return
        frame = (
            pd.concat(self._unwritten, ignore_index=True) if len(self._unwritten) > 1 else self._unwritten[0]
        )
        try:
            self._append(self.uri, frame)
        except Exception as err:  # noqa: BLE001 - the lake is down or busy: keep the rows and retry on the next flush
            self.last_error = f"{type(err).__name__}: {err}"
            log.error("prediction log: write of %d rows to %s failed: %s", len(frame), self.uri, err)
            if self._metrics is not None:
                self._metrics.log_errors.inc()
            self._unwritten = [frame.iloc[-self._max_pending_rows :]] if len(frame) else []
            return
        self._unwritten = []
        self.rows_written += len(frame)
        self.last_error = None
        if self._metrics is not None:
            self._metrics.log_rows.inc(len(frame))
