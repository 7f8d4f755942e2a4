"""Running the service under uvicorn: loopback by default, graceful stop on SIGTERM."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.serving.app import ServiceOptions
    from mlops_pipelines.settings import Settings

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 30
SWITCH_INTERVAL_SECONDS = 0.001


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def service_settings(settings: Settings | None = None) -> Settings:
    """`settings`, else MLOPS_ENV's: registry and lake from the resources the Dagster steps use."""
    if settings is not None:
        return settings
    from mlops_pipelines.resources.environment import environment_for

    return environment_for().settings()


def run_server(
    project: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: Settings | None = None,
    *,
    options: ServiceOptions | None = None,
    log_level: str = "info",
) -> None:
    """Serve `project` until SIGTERM/SIGINT; in-flight requests finish and the log is flushed."""
    settings = service_settings(settings)  # first: a missing variable fails before any import
    import uvicorn

    from mlops_pipelines.serving.app import TOKEN_ENV, create_app

    if not is_loopback(host) and not os.environ.get(TOKEN_ENV):
        log.warning(
            "serving %s on non-loopback %s without %s: anyone who can reach it may call it",
            project,
            host,
            TOKEN_ENV,
        )
    # The event loop (HTTP) and the scoring thread share the GIL; a 1 ms hand-off instead of the
    # default 5 ms let loaded requests batch sooner: +25% req/s at 8 clients, measured here.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    app = create_app(project, settings, options)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,  # the prediction log and /metrics already record every request
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        lifespan="on",
    )
    uvicorn.Server(config).run()
