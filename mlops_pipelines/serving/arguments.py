"""The service's command-line flags, defined once for `python -m mlops_pipelines.serving` and
`mlops-pipelines serve` (each adds them to its own parser and builds `ServiceOptions` from them)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from mlops_pipelines.serving.http import ALLOWED_HOSTS_ENV

if TYPE_CHECKING:
    from mlops_pipelines.serving.options import ServiceOptions


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="registry alias poll interval")
    parser.add_argument(
        "--canary-share", type=float, default=None, help="overrides spec.serving.canary_share"
    )
    shadow = parser.add_mutually_exclusive_group()
    shadow.add_argument("--shadow", dest="shadow", action="store_true", default=None)
    shadow.add_argument("--no-shadow", dest="shadow", action="store_false")
    parser.add_argument("--log-flush-seconds", type=float, default=1.0)
    parser.add_argument("--log-flush-rows", type=int, default=20_000)
    parser.add_argument("--batch-linger-ms", type=float, default=1.0, help="batching wait under concurrency")
    parser.add_argument(
        "--runtime", choices=["auto", "onnx", "sklearn"], default=None, help="overrides spec.serving.runtime"
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--score-timeout-seconds", type=float, default=10.0, help="504 after this")
    parser.add_argument("--max-queue", type=int, default=256, help="queued scoring jobs; 503 past this")
    parser.add_argument("--limit-concurrency", type=int, default=512, help="uvicorn's connection limit")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="a worker call this long is hung")
    parser.add_argument(
        "--allowed-hosts", default=None, help=f"comma-separated Host names (default: {ALLOWED_HOSTS_ENV})"
    )
    parser.add_argument("--log-retention-days", type=float, default=30.0, help="online log rows kept")


def options_from(args: argparse.Namespace) -> ServiceOptions:
    """`ServiceOptions` from flags `add_serving_arguments` defined."""
    from mlops_pipelines.serving.http import read_allowed_hosts
    from mlops_pipelines.serving.options import ServiceOptions
    from mlops_pipelines.serving.rotation import RotationRule

    return ServiceOptions(
        poll_seconds=args.poll_seconds,
        canary_share=args.canary_share,
        shadow=args.shadow,
        log_flush_seconds=args.log_flush_seconds,
        log_flush_rows=args.log_flush_rows,
        batch_linger_seconds=args.batch_linger_ms / 1000,
        runtime=args.runtime,
        score_timeout_seconds=args.score_timeout_seconds,
        max_queue=args.max_queue,
        limit_concurrency=args.limit_concurrency,
        hang_seconds=args.hang_seconds,
        allowed_hosts=read_allowed_hosts({ALLOWED_HOSTS_ENV: args.allowed_hosts or ""}),
        log_rotation=RotationRule(retention_days=args.log_retention_days),
    )


def serve_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Run the service with the parsed flags; a configuration error exits 2 naming it."""
    # Before numpy/sklearn load their OpenMP runtime: per-request batches are small, and
    # concurrency comes from batching requests together, not from threads inside one call.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from mlops_pipelines.serving.http import ServingConfigError
    from mlops_pipelines.serving.server import run_server

    try:
        options = options_from(args)
    except ValueError as err:  # a flag out of range (ServiceOptions names it)
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    try:
        run_server(args.project, args.host, args.port, options=options, log_level=args.log_level)
    except ServingConfigError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
