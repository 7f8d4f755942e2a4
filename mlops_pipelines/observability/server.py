"""The exporter's HTTP server: the collector on its own registry, served at /metrics.

Only this registry is served (no process or platform collectors of prometheus_client's global
registry): the metrics are the pipeline's, whichever process exports them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from mlops_pipelines.spec import ProjectSpec


class ExporterError(RuntimeError):
    """The exporter cannot start: an unknown project, or its address is taken; the message says which."""


def select_projects(specs: Mapping[str, ProjectSpec], wanted: Sequence[str] | None) -> list[ProjectSpec]:
    """The specs of `wanted` (default: every project), in the order given; unknown names fail."""
    if not wanted:
        return [specs[name] for name in sorted(specs)]
    unknown = [name for name in wanted if name not in specs]
    if unknown:
        raise ExporterError(f"unknown project(s) {unknown} for --project; known: {sorted(specs)}")
    return [specs[name] for name in dict.fromkeys(wanted)]


def start_exporter(collector: Collector, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve `collector` at http://host:port/metrics on a daemon thread; a taken address fails."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as err:
        raise ExporterError(f"cannot listen on {host}:{port} (--host/--port): {err.strerror or err}") from err
