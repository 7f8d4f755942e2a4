"""Prometheus metrics of one service instance, on its own registry (no global state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mlops_pipelines.serving.histogram import ArrayHistogram

if TYPE_CHECKING:
    from mlops_pipelines.lib.scoring.prediction_log import Predictions
    from mlops_pipelines.spec import ProjectSpec

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DEFAULT_VALUE_BUCKETS = (0.0, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0)


def prediction_buckets(spec: ProjectSpec) -> tuple[float, ...]:
    """Histogram buckets for predictions: probabilities, the target's declared range, or decades."""
    if spec.task.is_classification:
        return tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 11))
    target = spec.columns[spec.target]
    if target.min is not None and target.max is not None and target.max > target.min:
        return tuple(float(x) for x in np.linspace(target.min, target.max, 11))
    return _DEFAULT_VALUE_BUCKETS


class ServingMetrics:
    def __init__(self, spec: ProjectSpec) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlops_serving_requests",
            "Predict requests by route and HTTP status",
            ["route", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "mlops_serving_request_latency_seconds",
            "Predict request latency inside the service",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter("mlops_serving_rows", "Rows scored, by route", ["route"], registry=r)
        self.model_latency = Histogram(
            "mlops_serving_model_latency_seconds",
            "Queue wait plus model call per request, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "mlops_serving_model_errors", "Model calls that raised, by route", ["route"], registry=r
        )
        self.model_version = Gauge(
            "mlops_serving_model_version_info",
            "1 for the model version serving each route, and the runtime that scores it",
            ["route", "version", "runtime"],
            registry=r,
        )
        self.predictions = ArrayHistogram(
            "mlops_serving_prediction",
            "Predicted value (regression) or score (classification), by route",
            "route",
            prediction_buckets(spec),
            registry=r,
        )
        self.batch_requests = Histogram(
            "mlops_serving_batch_requests",
            "Requests scored together in one model call, by engine",
            ["engine"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "mlops_serving_batch_seconds",
            "Frame, features and model call of one batch, by engine",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.canary_share = Gauge(
            "mlops_serving_canary_share", "Share of entities routed to the canary", registry=r
        )
        self.ready = Gauge("mlops_serving_ready", "1 when a champion is loaded", registry=r)
        self.degraded = Gauge("mlops_serving_degraded", "1 when the last model load failed", registry=r)
        self.shadow_dropped = Counter(
            "mlops_serving_shadow_dropped_rows",
            "Shadow rows skipped because the shadow queue was full",
            registry=r,
        )
        self.log_rows = Counter("mlops_serving_log_rows_written", "Prediction-log rows written", registry=r)
        self.log_errors = Counter(
            "mlops_serving_log_write_errors", "Failed prediction-log writes", registry=r
        )
        self.log_pending = Gauge(
            "mlops_serving_log_pending_rows", "Rows waiting for the next log write", registry=r
        )
        self.log_rows_lost = Counter(
            "mlops_serving_log_rows_lost", "Acknowledged rows the log could not write at shutdown", registry=r
        )
        self.worker_restarts = Counter(
            "mlops_serving_worker_restarts",
            "Worker threads restarted by the supervisor, by worker and why (died, hung)",
            ["worker", "why"],
            registry=r,
        )
        self._versions: dict[str, tuple[str, str]] = {}

    def set_version(self, route: str, version: str | None, runtime: str = "") -> None:
        old = self._versions.pop(route, None)
        if old is not None:
            self.model_version.remove(route, *old)
        if version is not None:
            self._versions[route] = (version, runtime)
            self.model_version.labels(route, version, runtime).set(1)

    def batch_observer(self, engine: str) -> Callable[[int, int, float], None]:
        requests, seconds = self.batch_requests.labels(engine), self.batch_seconds.labels(engine)

        def observe(jobs: int, rows: int, elapsed: float) -> None:
            requests.observe(jobs)
            seconds.observe(elapsed)

        return observe

    def observe_predictions(self, route: str, predictions: Predictions) -> None:
        values = predictions.value if predictions.value is not None else predictions.score
        if values is None:
            return
        self.predictions.observe_many(route, values)

    def render(self) -> bytes:
        return generate_latest(self.registry)
