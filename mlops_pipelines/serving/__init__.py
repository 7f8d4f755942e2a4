"""The real-time HTTP service: FastAPI on uvicorn, with hot swap, shadow, canary and a prediction log.

`run_server` is what `mlops-pipelines serve` and `python -m mlops_pipelines.serving` call;
`create_app` builds the ASGI app for tests and embedding.
"""

from __future__ import annotations

from mlops_pipelines.serving.server import run_server

__all__ = ["run_server"]
