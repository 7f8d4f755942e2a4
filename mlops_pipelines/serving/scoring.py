"""Scoring a batch of requests with one model call: rows -> feature columns -> model.

A batch holds the jobs (one per request and model) that waited together. One set of feature
columns per model and one model call serve them all, and each job gets
its slice back: pandas' and sklearn's fixed per-call costs are paid once per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.features import build_feature_arrays, event_times
from mlops_pipelines.lib.frames import EVENT_TIME

if TYPE_CHECKING:
    from mlops_pipelines.lib.prediction_log import Predictions
    from mlops_pipelines.serving.holder import ServingModel
    from mlops_pipelines.spec import DType, ProjectSpec

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
    done: Callable[[Outcome], None]  # called on the scoring thread with the result
    queued_at: float = field(default_factory=time.perf_counter)


def frame_columns(spec: ProjectSpec) -> list[str]:
    """The request columns scoring and logging read: features, time axis and entity key."""
    wanted = {*spec.feature_columns, spec.time.column, spec.time.hour_column, spec.serving.entity_key}
    return [name for name in spec.columns if name in wanted]


def _to_naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _column(values: list[Any], dtype: DType) -> Any:
    """One column as a typed array; validated values need no inference, only packing."""
    if dtype == "date":
        return np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")
    if dtype == "datetime":
        return np.array([_to_naive_utc(v) for v in values], dtype="datetime64[us]").astype("datetime64[ns]")
    if dtype == "float":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "int" and None not in values:
        return np.array(values, dtype="int64")
    return values  # str, bool and nullable int stay objects, as build_features expects


def rows_frame(
    spec: ProjectSpec, rows: list[dict[str, Any]], request_times: list[datetime], event_time: bool = True
) -> pd.DataFrame:
    """Validated rows as a frame typed like a conformed table (dates as timestamps).

    With `event_time`, adds `_event_time`: from the spec's time column via the shared
    `event_times`, else the request time (arrival-ordered projects happen when they arrive).
    """
    data = {
        name: _column([row.get(name) for row in rows], spec.columns[name].dtype)
        for name in frame_columns(spec)
    }
    frame = pd.DataFrame(data)
    if event_time:
        if spec.time.column:
            frame[EVENT_TIME] = event_times(frame, spec)
        else:
            frame[EVENT_TIME] = np.array(request_times, dtype="datetime64[us]").astype("datetime64[ns]")
    return frame


def feature_inputs(
    spec: ProjectSpec, rows: list[dict[str, Any]], request_times: list[datetime]
) -> dict[str, np.ndarray]:
    """The model's input columns for validated rows, without a DataFrame in between.

    Columns go straight from the rows to typed arrays and through the shared
    `build_feature_arrays`, the same function `build_features` ends in for training.
    """
    columns: dict[str, Any] = {}
    for name in spec.feature_columns:
        dtype = spec.columns[name].dtype
        values = [row.get(name) for row in rows]
        columns[name] = np.array(values, dtype=object) if dtype in ("str", "bool") else _column(values, dtype)
    times = None
    if spec.features.time_features:
        times = rows_frame(spec, rows, request_times)[EVENT_TIME].to_numpy()
    return build_feature_arrays(columns, spec, times)


def score_rows(
    spec: ProjectSpec, model: ServingModel, rows: list[dict[str, Any]], request_times: list[datetime]
) -> Predictions:
    """The one scoring path: validated rows -> feature columns -> model (compiled or scikit-learn)."""
    return model.predict(feature_inputs(spec, rows, request_times))


class BatchScorer:
    """Scores batches of jobs; a failing model fails only the jobs it was asked to score."""

    def __init__(
        self,
        spec: ProjectSpec,
        name: str,
        threads: int | None = 1,
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self._spec = spec
        self._name = name
        self._threads = threads
        self._limited: set[int] = set()
        self._on_batch = on_batch  # (jobs, rows, seconds) of each model call

    def run(self, jobs: list[Job]) -> None:
        """Score `jobs` (grouped by model) and deliver every outcome."""
        groups: dict[int, list[Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.model), []).append(job)
        for group in groups.values():
            self._score(group)

    def _limit_threads(self) -> None:
        """Cap OpenMP/BLAS threads for model calls made from the current thread.

        OpenMP's thread count is per calling thread, so it is set by the thread that scores,
        once the model's libraries are loaded. Batches are small: spinning up a thread team
        costs more than it saves and competes with the event loop for the same cores.
        """
        from threadpoolctl import threadpool_limits

        if self._threads is not None:
            threadpool_limits(limits=self._threads)
        self._limited.add(threading.get_ident())

    def _score(self, jobs: list[Job]) -> None:
        if threading.get_ident() not in self._limited:
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
        if self._on_batch is not None:
            self._on_batch(len(jobs), len(rows), finished - started)
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
