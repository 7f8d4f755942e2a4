"""`mlops-pipelines exporter`: the pipelines' state as Prometheus metrics, until SIGTERM or Ctrl-C.

Reads the Dagster instance at DAGSTER_HOME and the MLflow registry of the environment
(MLOPS_ENV: the same TrackingConfig the steps use) on each scrape, cached for a few seconds.
A store that is down is `mlops_exporter_up{source} 0` and one log line naming its setting;
the exporter keeps serving and reports the store again once it answers.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

log = logging.getLogger("mlops_pipelines.exporter")

# Defined here, not imported: building the CLI's parser must not load prometheus_client.
DEFAULT_PORT = 9464  # the port Prometheus' list of default ports gives OpenTelemetry exporters
DEFAULT_HOST = "127.0.0.1"  # loopback by default: the pipelines' state is nobody else's business
DEFAULT_CACHE_SECONDS = 5.0


def add_exporter_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exporter = sub.add_parser(
        "exporter", help="serve the pipelines' state (champion, drift, retrains, freshness) to Prometheus"
    )
    exporter.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    exporter.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    exporter.add_argument(
        "--project", action="append", help="a project to export (repeatable; default: every project)"
    )
    exporter.add_argument(
        "--cache-seconds",
        type=float,
        default=DEFAULT_CACHE_SECONDS,
        help="scrapes within this long of a read share it (default %(default)s)",
    )
    exporter.add_argument("--log-level", default="info")
    exporter.set_defaults(func=_cmd_exporter)


def _cmd_exporter(args: argparse.Namespace) -> int:
    from mlops_pipelines.observability.collector import PipelineCollector
    from mlops_pipelines.observability.dagster_source import DagsterSource
    from mlops_pipelines.observability.registry_source import RegistrySource
    from mlops_pipelines.observability.server import select_projects, start_exporter
    from mlops_pipelines.resources.environment import environment_for
    from mlops_pipelines.spec import load_specs

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    specs = select_projects(load_specs(), args.project)
    projects = [spec.name for spec in specs]
    pipelines = DagsterSource(specs)
    registry = RegistrySource(projects, environment_for().tracking_config())
    collector = PipelineCollector(pipelines, registry, cache_seconds=args.cache_seconds)
    # MLflow's SQL store logs its schema checks at INFO on the first read: nothing to act on.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    server, _ = start_exporter(collector, args.host, args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info(
        "exporter: http://%s:%s/metrics for %s (%s; %s)",
        args.host,
        server.server_port,
        ", ".join(projects),
        pipelines.setting(),
        registry.setting(),
    )
    # The first read opens the stores (seconds for MLflow's SQL store): done now, not in a scrape
    # that Prometheus would time out. A store that is down is logged here already.
    collector.snapshot()
    try:
        while not stop.wait(1.0):  # a timed wait: the signal handler runs between waits
            pass
    finally:
        server.shutdown()
        server.server_close()
        pipelines.close()
    log.info("exporter: stopped")
    return 0
