"""Raw bytes on the wire: arbitrary header names, values and bodies, through real uvicorn.

The TestClient (httpx) refuses to send malformed headers, so these go over a plain socket:
whatever arrives, uvicorn or the service answers below 500, with no stack trace, and stays up.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import Live, live_server
from serving_support import Registry, isolated

from mlops_pipelines.serving.options import ServiceOptions

header_bytes = st.binary(min_size=0, max_size=40)
token = st.binary(min_size=1, max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b)


@pytest.fixture(scope="module")
def live(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    registry.aliases(champion=registry.plain)
    settings_ = isolated(registry.settings, tmp_path_factory.mktemp("rawfuzz"))
    with live_server(
        settings_, registry.spec, ServiceOptions(poll_seconds=0.5, log_in_process=True)
    ) as server:
        yield server


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _check(answer: bytes) -> None:
    if not answer:
        return  # uvicorn may close a connection it cannot parse without answering
    status = int(answer.split(b" ", 2)[1])
    assert status < 500, answer[:300]
    assert b"Traceback" not in answer and b'File "' not in answer


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=token, value=header_bytes, body=st.binary(max_size=200), declared=st.booleans())
def test_raw_headers_and_bodies_never_get_a_5xx(
    live: Live, name: bytes, value: bytes, body: bytes, declared: bool
) -> None:
    length = f"Content-Length: {len(body)}\r\n".encode() if declared else b""
    request = (
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + name
        + b": "
        + value
        + b"\r\n"
        + length
        + b"Connection: close\r\n\r\n"
        + body
    )
    _check(_exchange(live.port, request))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(line=st.binary(min_size=1, max_size=80))
def test_garbage_request_lines_never_get_a_5xx(live: Live, line: bytes) -> None:
    _check(_exchange(live.port, line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))


def test_the_server_still_answers_after_the_fuzzing(live: Live) -> None:
    assert httpx.get(f"{live.url}/readyz").status_code == 200
