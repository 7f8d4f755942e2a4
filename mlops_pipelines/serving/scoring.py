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
from typing import TYPE_CHECKING

from mlops_pipelines.serving.columns import RequestRows

if TYPE_CHECKING:
    from mlops_pipelines.lib.scoring.prediction_log import Predictions
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
    rows: RequestRows
    model: ServingModel
    done: Callable[[Outcome], None]  # called on the scoring thread with the result
    queued_at: float = field(default_factory=time.perf_counter)


def score_rows(spec: ProjectSpec, model: ServingModel, rows: RequestRows) -> Predictions:
    """The one scoring path: request columns -> shared feature arrays -> model (compiled or scikit-learn)."""
    return model.predict(rows.features(spec))


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
        rows = RequestRows.concat([job.rows for job in jobs])
        started = time.perf_counter()
        try:
            predictions = score_rows(self._spec, jobs[0].model, rows)
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
