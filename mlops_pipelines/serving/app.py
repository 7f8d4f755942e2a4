"""The FastAPI application: `create_app(project, ...)` wires spec, registry, routing and log.

Endpoints: POST /v1/predict, GET /v1/deployment, GET /healthz (liveness, always open),
GET /readyz (200 with a loaded champion, `degraded` when the last model load failed, else
503), GET /metrics (Prometheus), /docs and /openapi.json. With `MLOPS_SERVING_TOKEN` set
when the app is created, every path but /healthz needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mlops_pipelines.serving.engine import ThreadEngine
from mlops_pipelines.serving.holder import ModelHolder
from mlops_pipelines.serving.http import (
    RequestContext,
    check_json_content_type,
    error_response,
    json_response,
    read_body,
)
from mlops_pipelines.serving.logsink import InProcessSink, ProcessSink
from mlops_pipelines.serving.metrics import ServingMetrics
from mlops_pipelines.serving.predlog import PredictionLogWriter
from mlops_pipelines.serving.router import CanaryRouter, GuardLimits, decisions_path
from mlops_pipelines.serving.schemas import (
    ErrorBody,
    PredictResponse,
    RequestError,
    RequestSchema,
    build_request_schema,
)
from mlops_pipelines.serving.scoring import BatchScorer
from mlops_pipelines.serving.service import PredictionService, ScoringError
from mlops_pipelines.serving.status import deployment_view, install_openapi, readiness

if TYPE_CHECKING:
    from mlops_pipelines.serving.holder import Alias, ModelSource, ServingModel
    from mlops_pipelines.serving.runtime import RuntimeMode
    from mlops_pipelines.settings import Settings
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

TOKEN_ENV = "MLOPS_SERVING_TOKEN"


@dataclass(frozen=True)
class ServiceOptions:
    """Runtime knobs; None means 'take it from the spec'."""

    poll_seconds: float = 5.0
    retry_seconds: float = 60.0  # before re-trying a version that failed to load
    canary_share: float | None = None
    shadow: bool | None = None
    log_flush_rows: int = 20_000  # a Delta commit costs ~20 ms fixed: fewer, larger commits (and files)
    log_flush_seconds: float = 1.0
    shadow_queue: int = 1000  # pending shadow requests; beyond this shadow scoring is skipped
    shadow_collect_seconds: float = 0.2  # shadow scores in batches gathered this long
    guard_window: int = 200
    guard_min_requests: int = 20
    # Requests merge into one model call up to this many rows (a bigger request scores alone):
    # per-row costs dominate past a few hundred rows, and a big batch makes everyone in it wait.
    batch_max_rows: int = 256
    batch_linger_seconds: float = 0.001  # under concurrency, wait this long for more requests to batch
    model_threads: int | None = 1  # OpenMP/BLAS threads per model call; None keeps the library default
    # The prediction log is built and written in a child process (off the event loop's GIL);
    # True keeps it on a thread of this process.
    log_in_process: bool = False
    runtime: RuntimeMode | None = None  # overrides spec.serving.runtime


def _components(
    spec: ProjectSpec, settings: Settings, options: ServiceOptions, source: ModelSource
) -> PredictionService:
    metrics = ServingMetrics(spec)
    serving = spec.serving
    limits = GuardLimits(
        max_error_rate=serving.canary_max_error_rate,
        max_p99_ms=serving.canary_max_p99_ms,
        baking_requests=serving.baking_requests,
        window=options.guard_window,
        min_requests=options.guard_min_requests,
    )
    share = serving.canary_share if options.canary_share is None else options.canary_share
    router = CanaryRouter(spec.name, share, limits, decisions_path(settings.home, spec.name))

    def on_swap(alias: Alias, model: ServingModel | None) -> None:
        gc.freeze()  # the new model and the libraries it imported: long-lived, see _freeze_heap
        metrics.set_version(
            "champion" if alias == "champion" else "challenger",
            model.version if model else None,
            model.runtime.name if model else "",
        )
        router.on_challenger(holder.challenger.version if holder.challenger else None)
        metrics.canary_share.set(router.share)

    holder = ModelHolder(source, spec, options.poll_seconds, options.retry_seconds, on_swap, options.runtime)
    log_uri = settings.table_uri(spec.name, "predictions")
    writer = PredictionLogWriter(
        spec,
        log_uri,
        flush_rows=options.log_flush_rows,
        flush_seconds=options.log_flush_seconds,
        metrics=metrics,
        sink=InProcessSink(spec, log_uri) if options.log_in_process else ProcessSink(spec, log_uri),
    )
    main = BatchScorer(spec, "main", options.model_threads, metrics.batch_observer("main"))
    return PredictionService(
        spec=spec,
        holder=holder,
        router=router,
        engine=ThreadEngine(
            main, "main", options.batch_max_rows, linger_seconds=options.batch_linger_seconds
        ),
        shadow_engine=ThreadEngine(
            BatchScorer(spec, "shadow", options.model_threads, metrics.batch_observer("shadow")),
            "shadow",
            serving.max_batch_rows,
            max_queue=options.shadow_queue,
            collect_seconds=options.shadow_collect_seconds,
        ),
        writer=writer,
        metrics=metrics,
        shadow=serving.shadow if options.shadow is None else options.shadow,
    )


def create_app(
    project: str,
    settings: Settings | None = None,
    options: ServiceOptions | None = None,
    *,
    spec: ProjectSpec | None = None,
    source: ModelSource | None = None,
) -> FastAPI:
    """The service for `project`; threads start with the app's lifespan and stop (flushing) with it."""
    from mlops_pipelines.serving.source import RegistrySource
    from mlops_pipelines.settings import load_settings
    from mlops_pipelines.spec import load_specs

    settings = settings or load_settings()
    options = options or ServiceOptions()
    if spec is None:
        specs = load_specs()
        if project not in specs:
            raise KeyError(f"unknown project '{project}'; known: {sorted(specs)}")
        spec = specs[project]
    token = os.environ.get(TOKEN_ENV) or None
    schema = build_request_schema(spec)
    models: ModelSource = source if source is not None else RegistrySource(settings, project)
    service = _components(spec, settings, options, models)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.writer.start()
        service.engine.start()
        service.shadow_engine.start()
        service.holder.start()
        _freeze_heap()
        try:
            yield
        finally:
            service.holder.stop()
            service.engine.stop()  # answers every request still queued
            service.shadow_engine.stop()
            service.writer.close()  # then writes every logged row
            log.info("%s: stopped; %d prediction-log rows written", project, service.writer.rows_written)

    app = FastAPI(
        title=f"mlops_pipelines serving: {project}",
        version="1",
        description=spec.description,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    _routes(app, service, schema, spec.serving.max_body_bytes)
    install_openapi(app, schema.json_schema())
    app.add_middleware(RequestContext, token=token)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(RequestError(exc.status_code, code, str(exc.detail)), _rid(request))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        err = RequestError(500, "internal_error", "the service failed on this request")
        return error_response(err, _rid(request))

    return app


def _freeze_heap() -> None:
    """Take everything alive at start-up out of the cyclic garbage collector's scans.

    mlflow, pandas and scikit-learn leave a few hundred thousand long-lived objects; a full
    collection walks them all (about 70 ms here) and stalls every request in flight, which
    is what a service's p99 sees. Frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()


def _rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", "unknown"))


def _routes(app: FastAPI, service: PredictionService, schema: RequestSchema, max_body: int) -> None:
    metrics = service.metrics

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text}
        for code, text in (
            (400, "malformed JSON"),
            (401, "missing or wrong bearer token"),
            (413, "body over max_body_bytes, or more than max_batch_rows rows"),
            (415, "not application/json"),
            (422, "invalid rows: row index, column and problem"),
            (503, "no champion loaded yet"),
        )
    }

    @app.post(
        "/v1/predict",
        summary="Predict for one row ({'row': {...}}) or a batch ({'rows': [...]})",
        responses={200: {"model": PredictResponse}, **errors},
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = _rid(request)
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

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        status, body = readiness(service.holder)
        metrics.ready.set(1 if status == 200 else 0)
        metrics.degraded.set(1 if body["status"] == "degraded" else 0)
        return json_response(body, status)

    @app.get("/v1/deployment")
    async def deployment() -> Response:
        return json_response(deployment_view(service))

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.canary_share.set(service.router.share)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
