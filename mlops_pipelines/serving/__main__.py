"""`python -m mlops_pipelines.serving --project P --port N`: the service as its own process."""

from __future__ import annotations

import argparse
import logging
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_pipelines.serving", description=__doc__)
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
    args = parser.parse_args(argv)
    # Before numpy/sklearn load their OpenMP runtime: per-request batches are small, and
    # concurrency comes from batching requests together, not from threads inside one call.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from mlops_pipelines.serving.app import ServiceOptions
    from mlops_pipelines.serving.server import run_server

    options = ServiceOptions(
        poll_seconds=args.poll_seconds,
        canary_share=args.canary_share,
        shadow=args.shadow,
        log_flush_seconds=args.log_flush_seconds,
        log_flush_rows=args.log_flush_rows,
        batch_linger_seconds=args.batch_linger_ms / 1000,
        runtime=args.runtime,
    )
    run_server(args.project, args.host, args.port, options=options, log_level=args.log_level)


if __name__ == "__main__":
    main()
