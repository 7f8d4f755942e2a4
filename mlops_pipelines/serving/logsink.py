"""Where the prediction-log writer sends its batches: the Delta table, in this process or in a child.

Turning entries into log rows (pandas) and writing them (Arrow, Delta) costs about 10 us per
row, most of it under the GIL. In the serving process that time is taken from the event
loop: at 30k logged rows per second it was a third of a core and the main cause of the
service's p99. `ProcessSink` moves the work to a child process of its own, which gets the
entries as pickled numpy columns (cheap) and answers with the row count or the error.

The child ignores SIGINT and SIGTERM: a Ctrl-C reaches the whole process group, and the
child must stay up until the parent has flushed the last batch through it. It exits when the
parent says so, or when the parent is gone (its pipe closes).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlops_pipelines.lib.prediction_log import Predictions, build_log_frame
from mlops_pipelines.serving.columns import RequestRows

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import pandas as pd

    from mlops_pipelines.serving.predlog import LogEntry
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

REPLY_TIMEOUT_SECONDS = 300.0  # a Delta commit on a slow store; past this the child is replaced


class LogWriteError(RuntimeError):
    """A batch was not written; the writer keeps it for the next flush."""


class LogRowsError(LogWriteError):
    """The entries cannot be turned into log rows: retrying would fail forever, so they are dropped."""


class LogSink(Protocol):
    def write(self, entries: list[LogEntry]) -> int:
        """Write every row of `entries` in one commit; the number of rows, or LogWriteError."""

    def close(self) -> None: ...


def log_frame(spec: ProjectSpec, entries: list[LogEntry]) -> pd.DataFrame:
    """The log rows of `entries`, built once for the whole batch from their columns."""
    counts = [len(e.rows) for e in entries]

    def spread(values: list[Any], dtype: Any = object) -> Any:
        return np.repeat(np.array(values, dtype=dtype), counts)

    return build_log_frame(
        spec,
        RequestRows.concat([e.rows for e in entries]).frame(spec),
        Predictions.concat([e.predictions for e in entries]),
        route=spread([e.route for e in entries]),
        model_version=spread([e.model_version for e in entries]),
        request_ids=spread([e.request_id for e in entries]),
        latency_ms=spread([e.latency_ms for e in entries], "float64"),
        logged_at=spread([e.logged_at for e in entries], "datetime64[us]"),
    )


def write_entries(spec: ProjectSpec, uri: str, entries: list[LogEntry]) -> int:
    """Build and append the rows of `entries`; LogRowsError or LogWriteError naming the cause."""
    from mlops_pipelines.lib.lake import append

    try:
        frame = log_frame(spec, entries)
    except Exception as err:  # any frame-building failure is about these rows, not the lake
        raise LogRowsError(f"cannot build log rows: {type(err).__name__}: {err}") from err
    try:
        append(uri, frame, with_version=False)
    except Exception as err:  # the lake's many error types: all retried on the next flush
        raise LogWriteError(f"{type(err).__name__}: {err}") from err
    return len(frame)


class InProcessSink:
    """Builds and writes on the calling thread (the writer's): for tools and tests of the rows."""

    def __init__(self, spec: ProjectSpec, uri: str) -> None:
        self._spec, self._uri = spec, uri

    def write(self, entries: list[LogEntry]) -> int:
        return write_entries(self._spec, self._uri, entries)

    def close(self) -> None:
        return None


def _child(conn: Connection, spec: ProjectSpec, uri: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            entries = conn.recv()
        except EOFError:  # the parent is gone
            return
        if entries is None:
            return
        try:
            conn.send(("ok", write_entries(spec, uri, entries)))
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
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def write(self, entries: list[LogEntry]) -> int:
        with self._lock:
            conn = self._ensure_child()
            try:
                conn.send(entries)
                if not conn.poll(REPLY_TIMEOUT_SECONDS):
                    raise LogWriteError(f"the writer process gave no answer in {REPLY_TIMEOUT_SECONDS:.0f} s")
                status, value = conn.recv()
            except (EOFError, OSError) as err:
                self._stop_child()
                raise LogWriteError(f"the writer process died: {type(err).__name__}: {err}") from err
            except LogWriteError:
                self._stop_child()
                raise
        if status == "rows":
            raise LogRowsError(str(value))
        if status != "ok":
            raise LogWriteError(str(value))
        return int(value)

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
