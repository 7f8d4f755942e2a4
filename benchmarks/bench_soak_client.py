"""The soak benchmark's load generator: an asyncio HTTP/1.1 client, closed loop or paced (open loop).

Threads with `http.client` cannot send thousands of requests a second on a 2-core machine that
also runs the server; raw asyncio streams with keep-alive connections can. Paced mode schedules
request i at `start + i / rate` and measures its latency from that scheduled time: when every
connection is busy the wait counts against the server (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Tally:
    """Answers of one load phase: statuses, latencies (of 200s) and transport errors."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # of 200s, from the scheduled send time
    service: list[float] = field(default_factory=list)  # of 200s, from the actual send
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def percentile_ms(self, q: float, since_sent: bool = False) -> float | None:
        values = self.service if since_sent else self.latencies
        return float(np.percentile(np.asarray(values) * 1000, q)) if values else None


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one HTTP/1.1 response with a Content-Length body; (status, server closes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, closing = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"connection":
            closing = value.strip().lower() == b"close"
    if length:
        await reader.readexactly(length)
    return status, closing


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(request)
        status, closing = await _read_response(self.reader)
        if closing:  # uvicorn's own 503 (concurrency limit) closes the connection
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_bytes(path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


async def _one(conn: Connection, request: bytes, since: float, tally: Tally) -> None:
    sent = time.perf_counter()
    try:
        status = await asyncio.wait_for(conn.post(request), 30)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as err:
        conn.close()
        tally.errors[type(err).__name__] += 1
        return
    tally.statuses[status] += 1
    if status == 200:
        now = time.perf_counter()
        tally.latencies.append(now - since)
        tally.service.append(now - sent)


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float) -> Tally:
    """`connections` clients back to back for `seconds`: the service's peak rate."""
    tally = Tally()
    stop = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        conn = Connection(port)
        i = offset
        while time.perf_counter() < stop:
            await _one(conn, requests[i % len(requests)], time.perf_counter(), tally)
            i += connections
        conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(connections)))
    tally.seconds = time.perf_counter() - began
    return tally


async def paced(port: int, requests: list[bytes], rate: float, seconds: float, connections: int) -> Tally:
    """Open loop: request i is due at start + i / rate, sent on any free connection."""
    tally = Tally()
    total = int(rate * seconds)
    began = time.perf_counter()
    counter = iter(range(total))

    async def client() -> None:
        conn = Connection(port)
        for i in counter:
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await _one(conn, requests[i % len(requests)], due, tally)
        conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    tally.seconds = time.perf_counter() - began
    return tally


def _paced_process(args: tuple[int, list[bytes], float, float, int]) -> Tally:
    return asyncio.run(paced(*args))


def paced_processes(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int, processes: int
) -> Tally:
    """`paced` split over `processes` client processes (one Python process cannot send fast
    enough on this machine), their tallies merged."""
    share = [
        (port, requests[k::processes], rate / processes, seconds, connections // processes)
        for k in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_paced_process, share)
    merged = Tally()
    for part in parts:
        merged.statuses.update(part.statuses)
        merged.errors.update(part.errors)
        merged.latencies += part.latencies
        merged.service += part.service
        merged.seconds = max(merged.seconds, part.seconds)
    return merged


def server_side(port: int) -> tuple[dict[str, float], float | None, float | None]:
    """The service's own view from /metrics: requests by status, and p50/p99 of its in-service
    latency (the upper bound of the histogram bucket holding the percentile)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    statuses: Counter[str] = Counter()
    for status, value in re.findall(
        r'^mlops_serving_requests_total\{route="[^"]*",status="(\d+)"\} (\S+)$', text, re.M
    ):
        statuses[status] += float(value)
    buckets: Counter[float] = Counter()
    for line in re.findall(r"^mlops_serving_request_latency_seconds_bucket\{.*$", text, re.M):
        le = re.search(r'le="([^"]+)"', line)
        if le is not None:
            buckets[float(le.group(1))] += float(line.rsplit(" ", 1)[1])
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0

    def quantile(q: float) -> float | None:
        for bound in bounds:
            if total and buckets[bound] >= q * total:
                return bound * 1000
        return None

    return dict(statuses), quantile(0.5), quantile(0.99)
