"""The service under a real uvicorn server on a thread of the test process, with its real config.

A subprocess would import mlflow, sklearn and scipy again (10+ s); a thread shares the test
process's imports and still takes every request through uvicorn's HTTP parser, its
concurrency limit and its lifespan (shutdown sets `should_exit`, as uvicorn's SIGTERM handler does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from serving_support import free_port, wait_for

from mlops_pipelines.serving.options import ServiceOptions
from mlops_pipelines.settings import Settings
from mlops_pipelines.spec import ProjectSpec


@dataclass
class Live:
    url: str
    port: int
    app: Any
    server: Any

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)


@contextmanager
def live_server(
    settings: Settings, spec: ProjectSpec, options: ServiceOptions, ready: bool = True
) -> Iterator[Live]:
    import uvicorn

    from mlops_pipelines.serving.app import create_app
    from mlops_pipelines.serving.server import server_config

    app = create_app(spec.name, settings, options, spec=spec)
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, options, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    live = Live(f"http://127.0.0.1:{port}", port, app, server)
    try:
        wait_for(lambda: server.started, what="uvicorn to start")
        if ready:
            wait_for(lambda: httpx.get(f"{live.url}/readyz").status_code == 200, what="a champion")
        yield live
    finally:
        server.should_exit = True  # what uvicorn's SIGTERM handler sets
        thread.join(60)
