"""The FastAPI application: `create_app(project, ...)` wires spec, registry, routing and log.

Endpoints (routes.py): POST /v1/predict, GET /v1/deployment, GET /healthz (liveness, always
open), GET /readyz (200 with a loaded champion, `degraded` when something needs a look, 503
with no champion or a failing worker), GET /metrics (Prometheus), /docs and /openapi.json.
With `MLOPS_SERVING_TOKEN` set when the app is created (at least 32 characters), every path
but /healthz needs `Authorization: Bearer <token>`; with an allow-list
(`MLOPS_SERVING_ALLOWED_HOSTS` or `ServiceOptions.allowed_hosts`) other Host headers get 403.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from mlops_pipelines.serving.engine import ThreadEngine
from mlops_pipelines.serving.holder import ModelHolder
from mlops_pipelines.serving.http import TOKEN_ENV, RequestContext, read_allowed_hosts, read_token
from mlops_pipelines.serving.logsink import InProcessSink, ProcessSink
from mlops_pipelines.serving.metrics import ServingMetrics
from mlops_pipelines.serving.openapi import install_openapi
from mlops_pipelines.serving.options import ServiceOptions
from mlops_pipelines.serving.predlog import PredictionLogWriter
from mlops_pipelines.serving.router import CanaryRouter, GuardLimits, decisions_path
from mlops_pipelines.serving.routes import install_error_handlers, install_routes
from mlops_pipelines.serving.schemas import build_request_schema
from mlops_pipelines.serving.scoring import BatchScorer
from mlops_pipelines.serving.service import PredictionService
from mlops_pipelines.serving.status import log_problem, readiness
from mlops_pipelines.serving.supervisor import Supervisor

if TYPE_CHECKING:
    from mlops_pipelines.serving.holder import Alias, ModelSource, ServingModel
    from mlops_pipelines.settings import Settings
    from mlops_pipelines.spec import ProjectSpec

log = logging.getLogger(__name__)

__all__ = ["TOKEN_ENV", "ServiceOptions", "create_app"]


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
        rotation=options.log_rotation,
    )
    main = BatchScorer(spec, "main", options.model_threads, metrics.batch_observer("main"))
    return PredictionService(
        spec=spec,
        holder=holder,
        router=router,
        engine=ThreadEngine(
            main,
            "main",
            options.batch_max_rows,
            max_queue=options.max_queue,
            linger_seconds=options.batch_linger_seconds,
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
        score_timeout=options.score_timeout_seconds,
    )


def _supervisor(service: PredictionService, options: ServiceOptions) -> Supervisor:
    metrics = service.metrics

    def refresh_gauges() -> None:
        # On the timer, not only when someone calls /readyz: an unwatched degraded service
        # still shows it on /metrics.
        status, body = _ready(service, supervisor)
        metrics.ready.set(1 if status == 200 else 0)
        metrics.degraded.set(1 if body["status"] != "ready" else 0)
        metrics.canary_share.set(service.router.share)
        metrics.log_pending.set(service.writer.pending_rows())

    supervisor = Supervisor(
        [service.engine, service.shadow_engine, service.writer],
        hang_seconds=options.hang_seconds,
        interval_seconds=options.supervise_seconds,
        max_restarts=options.max_restarts,
        on_restart=lambda worker, why: metrics.worker_restarts.labels(worker, why).inc(),
        on_tick=refresh_gauges,
    )
    return supervisor


def _ready(service: PredictionService, supervisor: Supervisor) -> tuple[int, dict[str, Any]]:
    return readiness(service.holder, supervisor.problems, log_problem(service.writer))


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
    token = read_token()  # before anything starts: a weak token is a configuration error
    allowed_hosts = options.allowed_hosts or read_allowed_hosts()
    schema = build_request_schema(spec)
    models: ModelSource = source if source is not None else RegistrySource(settings, project)
    service = _components(spec, settings, options, models)
    supervisor = _supervisor(service, options)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.writer.start()
        service.engine.start()
        service.shadow_engine.start()
        service.holder.start()
        supervisor.start()
        _freeze_heap()
        try:
            yield
        finally:
            supervisor.stop()
            service.holder.stop()
            service.engine.stop()  # answers every request still queued
            service.shadow_engine.stop()
            service.writer.close()  # then writes every acknowledged row
            service.metrics.log_rows_lost.inc(service.writer.rows_lost)
            log.info("%s: stopped; %d prediction-log rows written", project, service.writer.rows_written)

    app = FastAPI(
        title=f"mlops_pipelines serving: {project}",
        version="1",
        description=spec.description,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.supervisor = supervisor
    install_routes(
        app, service, schema, spec.serving.max_body_bytes, ready=lambda: _ready(service, supervisor)
    )
    install_openapi(app, schema)
    app.add_middleware(RequestContext, token=token, allowed_hosts=allowed_hosts)
    install_error_handlers(app)
    return app


def _freeze_heap() -> None:
    """Take everything alive at start-up out of the cyclic garbage collector's scans.

    mlflow, pandas and scikit-learn leave a few hundred thousand long-lived objects; a full
    collection walks them all (about 70 ms here) and stalls every request in flight, which
    is what a service's p99 sees. Frozen objects are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
