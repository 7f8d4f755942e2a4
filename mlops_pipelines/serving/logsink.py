"""Where the prediction-log writer sends its batches: the Delta table, in this process or in a child.

Turning entries into log rows (pandas) and writing them (Arrow, Delta) costs about 10 us per
row, most of it under the GIL. In the serving process that time is taken from the event
loop: at 30k logged rows per second it was a third of a core and the main cause of the
service's p99. `ProcessSink` moves the work to a child process of its own, which gets the
entries packed into a few numpy arrays (cheap to pickle) and answers with the row count or
the error.

The child ignores SIGINT and SIGTERM: a Ctrl-C reaches the whole process group, and the
child must stay up until the parent has flushed the last batch through it. It exits when the
parent says so, or when the parent is gone (its pipe closes).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlops_pipelines.lib.scoring.prediction_log import Predictions, Route, build_log_frame
from mlops_pipelines.serving.columns import RequestRows

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import pandas as pd

    from mlops_pipelines.serving.rotation import Rotated, RotationRule
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

CHILD_NICENESS = 10
REPLY_TIMEOUT_SECONDS = 300.0  # a Delta commit on a slow store; past this the child is replaced


@dataclass(frozen=True)
class LogEntry:
    """Scored rows of one request on one route."""

    rows: RequestRows
    predictions: Predictions
    route: Route
    model_version: str
    request_id: str
    latency_ms: float
    logged_at: datetime


class LogWriteError(RuntimeError):
    """A batch was not written; the writer keeps it for the next flush."""


class LogRowsError(LogWriteError):
    """The entries cannot be turned into log rows: retrying would fail forever, so they are dropped."""


class LogSink(Protocol):
    def write(self, entries: list[LogEntry]) -> int:
        """Write every row of `entries` in one commit; the number of rows, or LogWriteError
        (LogRowsError when the rows themselves are at fault)."""

    def rotate(self, rule: RotationRule, now: datetime) -> Rotated:
        """Apply the rotation rule to the log (serving.rotation); LogWriteError on failure."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class LogBatch:
    """Entries packed into a few long arrays: what crosses the process boundary.

    Pickling is the parent's cost and holds the GIL: 20,000 one-row entries took 2.8 s as
    objects, a few milliseconds as these arrays.
    """

    rows: RequestRows
    predictions: Predictions
    counts: np.ndarray  # rows per entry
    routes: np.ndarray
    model_versions: np.ndarray
    request_ids: np.ndarray
    latency_ms: np.ndarray
    logged_at: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def pack(cls, entries: list[LogEntry]) -> LogBatch:
        return cls(
            rows=RequestRows.concat([e.rows for e in entries]),
            predictions=Predictions.concat([e.predictions for e in entries]),
            counts=np.array([len(e.rows) for e in entries], dtype="int64"),
            routes=np.array([e.route for e in entries], dtype=object),
            model_versions=np.array([e.model_version for e in entries], dtype=object),
            request_ids=np.array([e.request_id for e in entries], dtype=object),
            latency_ms=np.array([e.latency_ms for e in entries], dtype="float64"),
            logged_at=np.array([e.logged_at for e in entries], dtype="datetime64[us]"),
        )


def log_frame(spec: ProjectSpec, batch: LogBatch) -> pd.DataFrame:
    """The log rows of a packed batch, built once for all its entries."""

    def spread(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, batch.counts)

    return build_log_frame(
        spec,
        batch.rows.frame(spec),
        batch.predictions,
        route=spread(batch.routes),
        model_version=spread(batch.model_versions),
        request_ids=spread(batch.request_ids),
        latency_ms=spread(batch.latency_ms),
        logged_at=spread(batch.logged_at),
    )


def write_batch(spec: ProjectSpec, uri: str, batch: LogBatch) -> int:
    """Build and append the rows of `batch`; LogRowsError or LogWriteError naming the cause."""
    from mlops_pipelines.lib.lake import append

    try:
        frame = log_frame(spec, batch)
    except Exception as err:  # any frame-building failure is about these rows, not the lake
        raise LogRowsError(f"cannot build log rows: {type(err).__name__}: {err}") from err
    try:
        append(uri, frame, with_version=False)
    except Exception as err:  # the lake's many error types: all retried on the next flush
        raise LogWriteError(f"{type(err).__name__}: {err}") from err
    return len(frame)


def _packed(entries: list[LogEntry]) -> LogBatch:
    try:
        return LogBatch.pack(entries)
    except Exception as err:  # mismatched entries: these rows can never be written
        raise LogRowsError(f"cannot build log rows: {type(err).__name__}: {err}") from err


class InProcessSink:
    """Builds and writes on the calling thread (the writer's): for tools and tests of the rows."""

    def __init__(self, spec: ProjectSpec, uri: str) -> None:
        self._spec, self._uri = spec, uri

    def write(self, entries: list[LogEntry]) -> int:
        return write_batch(self._spec, self._uri, _packed(entries))

    def rotate(self, rule: RotationRule, now: datetime) -> Rotated:
        from mlops_pipelines.serving.rotation import RotationError, rotate_log

        try:
            return rotate_log(self._uri, rule, now)
        except RotationError as err:
            raise LogWriteError(str(err)) from err

    def close(self) -> None:
        return None


def _child(conn: Connection, spec: ProjectSpec, uri: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Background work: on a busy machine the scheduler should favour the request path. Nice
    # 10 still gets about a tenth of a contended core, and idle cores in full.
    os.nice(CHILD_NICENESS)
    while True:
        try:
            batch = conn.recv()
        except EOFError:  # the parent is gone
            return
        if batch is None:
            return
        if isinstance(batch, tuple):  # ("rotate", rule, now)
            from mlops_pipelines.serving.rotation import RotationError, rotate_log

            try:
                conn.send(("ok", rotate_log(uri, batch[1], batch[2])))
            except RotationError as err:
                conn.send(("error", str(err)))
            continue
        try:
            conn.send(("ok", write_batch(spec, uri, batch)))
        except LogRowsError as err:
            conn.send(("rows", str(err)))
        except LogWriteError as err:
            conn.send(("error", str(err)))


class ProcessSink:
    """Writes through a child process, started on first use and replaced if it dies."""

    def __init__(self, spec: ProjectSpec, uri: str) -> None:
        self._spec, self._uri = spec, uri
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The writer process's PID while it runs."""
        process = self._process
        return int(process.pid) if process is not None and process.is_alive() else None

    def start(self) -> None:
        with self._lock:
            self._ensure_child()

    def _ensure_child(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._stop_child()
        context = multiprocessing.get_context("spawn")  # fork would copy the server's threads' locks
        parent, child = context.Pipe()
        process = context.Process(
            target=_child, args=(child, self._spec, self._uri), name="prediction-log-writer", daemon=True
        )
        # Blocked from before the child exists: a Ctrl-C to the process group while the child is
        # still importing (seconds on a busy machine) must not kill it before its handlers are set.
        # The mask is inherited through spawn's exec; `_child` then ignores both signals.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()
        self._process, self._conn = process, parent
        return parent

    def write(self, entries: list[LogEntry]) -> int:
        status, value = self._ask(_packed(entries))
        if status == "rows":
            raise LogRowsError(str(value))
        if status != "ok":
            raise LogWriteError(str(value))
        return int(value)

    def rotate(self, rule: RotationRule, now: datetime) -> Rotated:
        status, value = self._ask(("rotate", rule, now))
        if status != "ok":
            raise LogWriteError(str(value))
        return value

    def _ask(self, message: object) -> tuple[str, Any]:
        """Send one message to the child and wait for its (status, value) answer."""
        with self._lock:
            try:
                conn = self._ensure_child()
            except (OSError, RuntimeError) as err:  # no process could be started (limits, memory)
                raise LogWriteError(f"cannot start the writer process: {type(err).__name__}: {err}") from err
            try:
                conn.send(message)
                if not conn.poll(REPLY_TIMEOUT_SECONDS):
                    raise LogWriteError(f"the writer process gave no answer in {REPLY_TIMEOUT_SECONDS:.0f} s")
                status, value = conn.recv()
            except (EOFError, OSError) as err:
                self._stop_child()
                raise LogWriteError(f"the writer process died: {type(err).__name__}: {err}") from err
            except LogWriteError:
                self._stop_child()
                raise
        return str(status), value

    def _stop_child(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)
        self._process, self._conn = None, None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._process is not None and self._process.is_alive():
                try:
                    self._conn.send(None)
                    self._process.join(30)
                except OSError as err:  # it died between the check and the send: nothing to flush
                    log.warning("prediction-log writer process gone at close: %s", err)
            self._stop_child()
