"""The reports directory over http, so the UI's report links open from the Dagster UI's page.

Materializations link Evidently reports, decision records and model cards under the settings'
`reports_url` (`lib.stores.ReportDir`); a browser refuses file:// links from an http page.
`mlops-pipelines ui` starts this server beside `dagster dev`; `mlops-pipelines reports` runs it
alone (for an instance the stack or a demo left). It serves files read-only from one directory
(the standard library's handler maps every path inside it and refuses `..`), binds loopback by
default and logs nothing per request.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ReportServerError(RuntimeError):
    """The reports cannot be served at the configured address; the message names the setting."""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """One line per request would drown the UI's log; failures still reach the client."""


@dataclass(frozen=True)
class ServedReports:
    server: ThreadingHTTPServer
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def address_of(url: str, setting: str) -> tuple[str, int]:
    """Host and port of an http base URL; an https or malformed one names `setting`."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ReportServerError(f"{setting}={url!r}: expected http://HOST:PORT/ to serve the reports at")
    try:
        port = parts.port or 80
    except ValueError as err:
        raise ReportServerError(f"{setting}={url!r}: invalid port") from err
    return parts.hostname, port


def serve_reports(root: Path, url: str, setting: str = "MLOPS_REPORTS_URL") -> ServedReports:
    """Serve `root` at `url` on a daemon thread; the address in use names `setting`."""
    host, port = address_of(url, setting)
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as err:
        raise ReportServerError(
            f"cannot serve the reports at {url} ({err.strerror}): set {setting} to a free address"
        ) from err
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="reports-http", daemon=True)
    thread.start()
    return ServedReports(server, thread, url)


def check_address(url: str, setting: str = "MLOPS_REPORTS_URL") -> None:
    """Raise ReportServerError when `url` cannot be served here (not http, or its port is taken)."""
    host, port = address_of(url, setting)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ReportServerError(
                f"cannot serve the reports at {url} ({err.strerror}): set {setting} to a free address"
            ) from err


def main(argv: list[str] | None = None) -> int:
    """`python -m mlops_pipelines.report_server ROOT URL`: serve until the parent process exits
    (`mlops-pipelines ui` starts it, then becomes `dagster dev`)."""
    root, url = argv if argv is not None else sys.argv[1:3]
    parent = os.getppid()
    served = serve_reports(Path(root), url)
    try:
        while os.getppid() == parent:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group: stop quietly with the UI
    finally:
        served.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
