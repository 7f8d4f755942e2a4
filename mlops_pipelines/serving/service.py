"""One predict request from validated rows to response: routing, scoring, shadow and logging.

Only the champion (or, for canary rows, the challenger) is on the response path. Shadow
scoring and the prediction log run on their own threads after the answer is ready. A request
waits for its scores at most `score_timeout` seconds from its arrival (then 504), and finds
the scoring queue full at worst (then 503 with Retry-After): it never waits without end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_pipelines.lib.scoring.prediction_log import Predictions, Route
from mlops_pipelines.serving.columns import RequestRows
from mlops_pipelines.serving.logsink import LogEntry
from mlops_pipelines.serving.schemas import RequestError
from mlops_pipelines.serving.scoring import Job, Outcome

if TYPE_CHECKING:
    from mlops_pipelines.serving.engine import ThreadEngine
    from mlops_pipelines.serving.holder import ModelHolder, ServingModel
    from mlops_pipelines.serving.metrics import ServingMetrics
    from mlops_pipelines.serving.predlog import PredictionLogWriter
    from mlops_pipelines.serving.router import CanaryRouter
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)


# Rows, their predictions and the model that made them, per route of one request.
Parts = dict[Route, tuple[RequestRows, Predictions, "ServingModel"]]


OVERLOADED_RETRY_SECONDS = 1


class ScoringError(RuntimeError):
    """The champion raised on rows that passed validation: a server-side fault."""


class ScoringTimeoutError(RuntimeError):
    """No score arrived before the request's deadline."""


def timeout_error(seconds: float) -> RequestError:
    return RequestError(504, "scoring_timeout", f"the model did not answer within {seconds:g} s")


@dataclass
class PredictionService:
    spec: ProjectSpec
    holder: ModelHolder
    router: CanaryRouter
    engine: ThreadEngine
    shadow_engine: ThreadEngine
    writer: PredictionLogWriter
    metrics: ServingMetrics
    shadow: bool
    score_timeout: float = 10.0

    async def _score(
        self, engine: ThreadEngine, model: ServingModel, rows: RequestRows, deadline: float
    ) -> Outcome:
        """The outcome of scoring `rows`; RequestError 503 when the queue is full, ScoringTimeoutError
        past `deadline` (perf_counter seconds)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def settle(outcome: Outcome) -> None:
            if not future.done():  # the client may have gone and the future been cancelled
                future.set_result(outcome)

        def done(outcome: Outcome) -> None:  # runs on the scoring thread
            loop.call_soon_threadsafe(settle, outcome)

        if not engine.submit(Job(rows, model, done)):
            raise RequestError(
                503, "overloaded", "the scoring queue is full", retry_after=OVERLOADED_RETRY_SECONDS
            )
        try:
            return await asyncio.wait_for(future, max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            raise ScoringTimeoutError(
                f"model {model.version}: no answer within {self.score_timeout:g} s"
            ) from None

    async def _champion(self, model: ServingModel, rows: RequestRows, deadline: float) -> Predictions:
        outcome = await self._score(self.engine, model, rows, deadline)
        self.metrics.model_latency.labels("champion").observe(outcome.latency_ms / 1000)
        if outcome.predictions is None:
            self.metrics.model_errors.labels("champion").inc()
            raise ScoringError(f"champion {model.version} failed: {outcome.error}")
        return outcome.predictions

    async def predict(self, rows: list[dict[str, Any]], request_id: str, started: float) -> dict[str, Any]:
        """The response body for validated `rows`; logging and shadow scoring are queued."""
        champion = self.holder.champion
        if champion is None:
            raise RequestError(503, "not_ready", "no champion model is loaded yet", retry_after=5)
        challenger = self.holder.challenger
        now = datetime.now(UTC).replace(tzinfo=None)
        batch = RequestRows.from_rows(self.spec, rows, now)
        mask = None
        if challenger is not None and self.router.share > 0:
            mask = self.router.canary_rows(batch.entities(self.spec, request_id))
        row_routes: list[Route] | None = None
        deadline = started + self.score_timeout
        try:
            if mask is None or challenger is None:
                predictions = await self._champion(champion, batch, deadline)
                parts: Parts = {"champion": (batch, predictions, champion)}
            else:
                predictions, parts, row_routes = await self._split(
                    champion, challenger, batch, np.asarray(mask), deadline
                )
        except ScoringTimeoutError as err:
            log.error("request %s: %s", request_id, err)
            raise timeout_error(self.score_timeout) from None
        latency_ms = (time.perf_counter() - started) * 1000
        for route, (part, part_predictions, model) in parts.items():
            self.metrics.rows.labels(route).inc(len(part))
            self.writer.submit(
                LogEntry(part, part_predictions, route, model.version, request_id, latency_ms, now)
            )
        if self.shadow and challenger is not None and "champion" in parts:
            self._shadow(challenger, parts["champion"][0], request_id, now)
        return self._response(request_id, predictions, row_routes, champion, challenger)

    async def _canary(self, challenger: ServingModel, rows: RequestRows, deadline: float) -> Outcome:
        """The canary's outcome; a timeout is its failure (the guard counts it), not the request's yet."""
        started = time.perf_counter()
        try:
            return await self._score(self.engine, challenger, rows, deadline)
        except ScoringTimeoutError as err:
            return Outcome(None, err, (time.perf_counter() - started) * 1000)

    async def _split(
        self,
        champion: ServingModel,
        challenger: ServingModel,
        batch: RequestRows,
        mask: np.ndarray,
        deadline: float,
    ) -> tuple[Predictions, Parts, list[Route]]:
        """Champion and canary score their rows side by side; returns predictions in row order."""
        canary_idx, champion_idx = np.flatnonzero(mask), np.flatnonzero(~mask)
        canary_rows, champion_rows = batch.take(canary_idx), batch.take(champion_idx)
        canary_task = asyncio.ensure_future(self._canary(challenger, canary_rows, deadline))
        parts: Parts = {}
        if len(champion_rows):
            try:
                answered = await self._champion(champion, champion_rows, deadline)
            except BaseException:
                canary_task.cancel()  # the request fails: nobody waits for the canary's half
                raise
            parts["champion"] = (champion_rows, answered, champion)
        canary = await canary_task
        self.metrics.model_latency.labels("canary").observe(canary.latency_ms / 1000)
        self.router.observe(canary.predictions is not None, canary.latency_ms, champion.version)
        if canary.predictions is not None:
            parts["canary"] = (canary_rows, canary.predictions, challenger)
        else:
            # A failing canary must not fail the client: the champion answers those rows.
            self.metrics.model_errors.labels("canary").inc()
            fallback = await self._champion(champion, canary_rows, deadline)
            if "champion" in parts:
                merged = Predictions.concat([parts["champion"][1], fallback])
                parts["champion"] = (RequestRows.concat([champion_rows, canary_rows]), merged, champion)
            else:
                parts["champion"] = (canary_rows, fallback, champion)
            champion_idx, canary_idx = np.concatenate([champion_idx, canary_idx]), canary_idx[:0]
        order = np.argsort(np.concatenate([champion_idx, canary_idx]), kind="stable")
        joined = Predictions.concat([part[1] for part in parts.values()])
        champion_routes: list[Route] = ["champion"] * len(champion_idx)
        canary_routes: list[Route] = ["canary"] * len(canary_idx)
        routes = champion_routes + canary_routes
        return joined.take(order), parts, [routes[i] for i in order]

    def _shadow(self, challenger: ServingModel, rows: RequestRows, request_id: str, now: datetime) -> None:
        def done(outcome: Outcome) -> None:
            self.metrics.model_latency.labels("shadow").observe(outcome.latency_ms / 1000)
            if outcome.predictions is None:
                self.metrics.model_errors.labels("shadow").inc()
                return
            self.metrics.rows.labels("shadow").inc(len(rows))
            self.writer.submit(
                LogEntry(
                    rows,
                    outcome.predictions,
                    "shadow",
                    challenger.version,
                    request_id,
                    outcome.latency_ms,
                    now,
                )
            )

        if not self.shadow_engine.submit(Job(rows, challenger, done)):
            self.metrics.shadow_dropped.inc(len(rows))

    def _response(
        self,
        request_id: str,
        predictions: Predictions,
        row_routes: list[Route] | None,
        champion: ServingModel,
        challenger: ServingModel | None,
    ) -> dict[str, Any]:
        """`route`/`model_version` when one model answered; else 'mixed' with per-row lists."""
        versions = {"champion": champion.version, "canary": challenger.version if challenger else None}
        body: dict[str, Any] = {"request_id": request_id}
        distinct = set(row_routes) if row_routes is not None else {"champion"}
        if len(distinct) == 1:
            route = distinct.pop()
            body["route"], body["model_version"] = route, versions[route]
        else:
            assert row_routes is not None
            body["route"], body["model_version"] = "mixed", None
            body["routes"] = row_routes
            body["model_versions"] = [versions[r] for r in row_routes]
        body["predictions"] = _predictions_json(predictions)
        return body


def _predictions_json(predictions: Predictions) -> list[Any]:
    if predictions.value is not None:
        return predictions.value.tolist()
    assert predictions.label is not None and predictions.proba is not None
    classes = predictions.classes
    return [
        {"label": label, "probabilities": dict(zip(classes, probs, strict=True))}
        for label, probs in zip(predictions.label.tolist(), predictions.proba.tolist(), strict=True)
    ]
