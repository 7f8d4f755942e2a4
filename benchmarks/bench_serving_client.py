"""The benchmark's client side: server processes by PID and a small threaded HTTP client.

One persistent `http.client` connection per thread, the same for every server measured.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    server: str
    rows: int
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)


def wait_ready(
    port: int, path: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server on port {port} not ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


def drive(
    port: int, path: str, bodies: list[bytes], requests: int, concurrency: int
) -> tuple[float, list[float], int]:
    """`requests` POSTs spread over `concurrency` threads; returns wall seconds, latencies, errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_thread = requests // concurrency
    barrier = threading.Barrier(concurrency + 1)

    def worker(offset: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        mine: list[float] = []
        failed = 0
        barrier.wait()
        for i in range(per_thread):
            body = bodies[(offset + i) % len(bodies)]
            began = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            failed += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker, args=(t * 997,)) for t in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, errors


def measure(
    name: str, port: int, path: str, bodies: list[bytes], rows: int, concurrency: int, requests: int
) -> Result:
    drive(port, path, bodies, max(50, requests // 10), concurrency)  # warm-up
    seconds, latencies, errors = drive(port, path, bodies, requests, concurrency)
    ms = np.asarray(latencies) * 1000
    return Result(
        name,
        rows,
        concurrency,
        len(latencies),
        seconds,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
        errors,
    )


def runtime_of(port: int) -> str:
    """What answers on this service instance: the champion's runtime and its parity note."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/v1/deployment")
    champion = json.loads(conn.getresponse().read())["models"]["champion"]
    return f"champion v{champion['version']} on {champion['runtime']} ({champion['runtime_note']})"
