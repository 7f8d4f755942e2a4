#!/usr/bin/env python3
"""The image's HEALTHCHECK, one script for every role the image runs (Dockerfile, README
"Deploy to Kubernetes"). `MLOPS_HEALTHCHECK` says what to check:

- unset: serving's liveness, GET http://127.0.0.1:8080/healthz (the serve command's port);
- `http://...`: that URL must answer 200 (another port, or `/readyz`);
- `grpc:PORT`: the Dagster code server on PORT answers `dagster api grpc-health-check`;
- `none`: nothing to probe (a Celery worker: it has no port; Kubernetes restarts it if it exits).

Exit 0 when healthy, 1 with one line on stderr naming what failed. Kubernetes ignores an image's
HEALTHCHECK and uses the probes in deploy/k8s/; this serves `podman run` and `docker run`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

DEFAULT = "http://127.0.0.1:8080/healthz"
TIMEOUT_SECONDS = 4.0


def check(target: str) -> str | None:
    """None when `target` is healthy, else why not."""
    if target == "none":
        return None
    if target.startswith("grpc:"):
        port = target.removeprefix("grpc:")
        if not port.isdigit():
            return f"MLOPS_HEALTHCHECK={target!r}: expected grpc:PORT"
        command = ["dagster", "api", "grpc-health-check", "-p", port]
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS * 2, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"code server on port {port}: {type(err).__name__}"
        return None if done.returncode == 0 else f"code server on port {port}: not serving"
    if target.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(target, timeout=TIMEOUT_SECONDS) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        except (OSError, ValueError) as err:
            return f"{target}: {type(err).__name__}"
        return None if status == 200 else f"{target}: HTTP {status}"
    return f"MLOPS_HEALTHCHECK={target!r}: expected http(s)://..., grpc:PORT or none"


def main() -> int:
    problem = check(os.environ.get("MLOPS_HEALTHCHECK") or DEFAULT)
    if problem is None:
        return 0
    sys.stderr.write(f"unhealthy: {problem}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
