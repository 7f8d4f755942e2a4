"""The endpoints and error handlers, each answer documented in the OpenAPI it serves.

The documented responses are what schemathesis holds the service to in CI
(mlops_pipelines_tests/serving/test_serving_schemathesis.py): every status an endpoint can
answer, with its body and content type.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mlops_pipelines.serving.http import check_json_content_type, error_response, json_response, read_body
from mlops_pipelines.serving.schemas import ErrorBody, PredictResponse, ReadyBody, RequestError
from mlops_pipelines.serving.service import ScoringError
from mlops_pipelines.serving.status import deployment_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlops_pipelines.serving.schemas import RequestSchema
    from mlops_pipelines.serving.service import PredictionService

log = logging.getLogger(__name__)

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_COMMON = ((401, "missing or wrong bearer token"), (403, "Host not in the allow-list"))
_PREDICT = (
    (400, "malformed JSON"),
    (413, "body over max_body_bytes, or more than max_batch_rows rows"),
    (415, "not application/json"),
    (422, "invalid rows: row index, column and problem"),
    (500, "the model failed on valid rows (no internals in the body)"),
    (503, "no champion loaded yet, or the scoring queue is full (Retry-After)"),
    (504, "the model did not answer within the scoring timeout"),
)


def _errors(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": text} for code, text in (*_COMMON, *codes)}


def rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", "unknown"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(RequestError(exc.status_code, code, str(exc.detail)), rid(request))
        response.headers.update(exc.headers or {})  # 405 carries `Allow`
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        err = RequestError(500, "internal_error", "the service failed on this request")
        return error_response(err, rid(request))


def install_routes(
    app: FastAPI,
    service: PredictionService,
    schema: RequestSchema,
    max_body: int,
    ready: Callable[[], tuple[int, dict[str, Any]]],
) -> None:
    metrics = service.metrics

    @app.post(
        "/v1/predict",
        summary="Predict for one row ({'row': {...}}) or a batch ({'rows': [...]})",
        responses={200: {"model": PredictResponse}, **_errors(*_PREDICT)},
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = rid(request)
        try:
            check_json_content_type(request)
            rows = schema.parse(await read_body(request, max_body))
            body = await service.predict(rows, request_id, started)
        except RequestError as err:
            metrics.requests.labels("none", str(err.status)).inc()
            return error_response(err, request_id)
        except ScoringError as err:
            log.error("request %s: %s", request_id, err)
            metrics.requests.labels("champion", "500").inc()
            refusal = RequestError(500, "prediction_failed", "the model could not score these rows")
            return error_response(refusal, request_id)
        route = str(body["route"])
        metrics.requests.labels(route, "200").inc()
        metrics.request_latency.labels(route).observe(time.perf_counter() - started)
        return json_response(body)

    @app.get("/healthz", summary="Liveness: the process answers (never needs a token)")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        summary="Readiness: 200 while a champion serves, else 503 with the reasons",
        responses={200: {"model": ReadyBody}, 503: {"model": ReadyBody}, **_errors()},
    )
    async def readyz() -> Response:
        status, body = ready()
        return json_response(body, status)

    @app.get(
        "/v1/deployment",
        summary="Models, routes, canary guard, shadow and prediction-log state",
        responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **_errors()},
    )
    async def deployment() -> Response:
        return json_response(deployment_view(service))

    @app.get(
        "/metrics",
        summary="Prometheus text exposition",
        response_class=Response,
        responses={200: {"content": {METRICS_MEDIA_TYPE: {"schema": {"type": "string"}}}}, **_errors()},
    )
    async def prometheus() -> Response:
        metrics.canary_share.set(service.router.share)
        return Response(metrics.render(), media_type=METRICS_MEDIA_TYPE)
