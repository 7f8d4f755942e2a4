"""One predict request from validated rows to response: routing, scoring, shadow and logging.

Only the champion (or, for canary rows, the challenger) is on the response path. Shadow
scoring and the prediction log run on their own threads after the answer is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_pipelines.lib.prediction_log import Predictions, Route
from mlops_pipelines.serving.predlog import LogEntry
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
Parts = dict[Route, tuple[list[dict[str, Any]], Predictions, "ServingModel"]]


class ScoringError(RuntimeError):
    """The champion raised on rows that passed validation: a server-side fault."""


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

    def _entities(self, rows: list[dict[str, Any]], request_id: str) -> list[str]:
        key = self.spec.serving.entity_key
        if key is None:
            return [request_id] * len(rows)
        return [request_id if row.get(key) is None else str(row[key]) for row in rows]

    async def _score(
        self,
        engine: ThreadEngine,
        model: ServingModel,
        rows: list[dict[str, Any]],
        times: list[datetime],
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def settle(outcome: Outcome) -> None:
            if not future.done():  # the client may have gone and the future been cancelled
                future.set_result(outcome)

        def done(outcome: Outcome) -> None:  # runs on the scoring thread
            loop.call_soon_threadsafe(settle, outcome)

        engine.submit(Job(rows, times, model, done))
        return await future

    async def _champion(
        self, model: ServingModel, rows: list[dict[str, Any]], times: list[datetime]
    ) -> Predictions:
        outcome = await self._score(self.engine, model, rows, times)
        self.metrics.model_latency.labels("champion").observe(outcome.latency_ms / 1000)
        if outcome.predictions is None:
            self.metrics.model_errors.labels("champion").inc()
            raise ScoringError(f"champion {model.version} failed: {outcome.error}")
        return outcome.predictions

    async def predict(self, rows: list[dict[str, Any]], request_id: str, started: float) -> dict[str, Any]:
        """The response body for validated `rows`; logging and shadow scoring are queued."""
        champion = self.holder.champion
        if champion is None:
            raise RequestError(503, "not_ready", "no champion model is loaded yet")
        challenger = self.holder.challenger
        now = datetime.now(UTC).replace(tzinfo=None)
        times = [now] * len(rows)
        mask = self.router.canary_rows(self._entities(rows, request_id)) if challenger is not None else None
        row_routes: list[Route] | None = None
        if mask is None or challenger is None:
            predictions = await self._champion(champion, rows, times)
            parts: Parts = {"champion": (rows, predictions, champion)}
        else:
            predictions, parts, row_routes = await self._split(champion, challenger, rows, times, mask)
        latency_ms = (time.perf_counter() - started) * 1000
        for route, (part_rows, part_predictions, model) in parts.items():
            self.metrics.rows.labels(route).inc(len(part_rows))
            entry = LogEntry(
                part_rows,
                times[: len(part_rows)],
                part_predictions,
                route,
                model.version,
                request_id,
                latency_ms,
                now,
            )
            self.writer.submit(entry)
        if self.shadow and challenger is not None and "champion" in parts:
            self._shadow(challenger, parts["champion"][0], request_id, now)
        return self._response(request_id, predictions, row_routes, champion, challenger)

    async def _split(
        self,
        champion: ServingModel,
        challenger: ServingModel,
        rows: list[dict[str, Any]],
        times: list[datetime],
        mask: list[bool],
    ) -> tuple[Predictions, Parts, list[Route]]:
        """Champion and canary score their rows side by side; returns predictions in row order."""
        canary_idx = [i for i, m in enumerate(mask) if m]
        champion_idx = [i for i, m in enumerate(mask) if not m]
        canary_rows = [rows[i] for i in canary_idx]
        champion_rows = [rows[i] for i in champion_idx]
        canary_task = asyncio.ensure_future(
            self._score(self.engine, challenger, canary_rows, times[: len(canary_rows)])
        )
        parts: Parts = {}
        if champion_rows:
            try:
                answered = await self._champion(champion, champion_rows, times[: len(champion_rows)])
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
            fallback = await self._champion(champion, canary_rows, times[: len(canary_rows)])
            if "champion" in parts:
                merged = Predictions.concat([parts["champion"][1], fallback])
                parts["champion"] = (champion_rows + canary_rows, merged, champion)
            else:
                parts["champion"] = (canary_rows, fallback, champion)
            champion_idx, canary_idx = champion_idx + canary_idx, []
        order = np.argsort(np.asarray(champion_idx + canary_idx), kind="stable")
        joined = Predictions.concat([part[1] for part in parts.values()])
        champion_routes: list[Route] = ["champion"] * len(champion_idx)
        canary_routes: list[Route] = ["canary"] * len(canary_idx)
        routes = champion_routes + canary_routes
        return joined.take(order), parts, [routes[i] for i in order]

    def _shadow(
        self, challenger: ServingModel, rows: list[dict[str, Any]], request_id: str, now: datetime
    ) -> None:
        def done(outcome: Outcome) -> None:
            self.metrics.model_latency.labels("shadow").observe(outcome.latency_ms / 1000)
            if outcome.predictions is None:
                self.metrics.model_errors.labels("shadow").inc()
                return
            self.metrics.rows.labels("shadow").inc(len(rows))
            self.writer.submit(
                LogEntry(
                    rows,
                    [now] * len(rows),
                    outcome.predictions,
                    "shadow",
                    challenger.version,
                    request_id,
                    outcome.latency_ms,
                    now,
                )
            )

        if not self.shadow_engine.submit(Job(rows, [now] * len(rows), challenger, done)):
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
