"""The exporter's collector: reads every source when scraped, at most once per cache period.

Reading on scrape (not on a timer) means nothing is read while nobody scrapes, and a value is
never older than the cache period plus one read while Prometheus does. The cache (a few
seconds) makes a scrape storm, or Prometheus and a person's browser at once, cost one read.

A scrape that finds the snapshot older than the cache period starts one read and waits for it
up to `wait_seconds`; a read that takes longer (a busy instance) finishes for the next scrape
while this one answers with the previous snapshot, so a scrape never times out waiting on a
store. `mlops_exporter_snapshot_age_seconds` says how old the answer is, and a read that has
not finished after `stuck_seconds` reports its source down (up 0, its metrics left out): a
store that hangs never shows as silently frozen values. Only the first read is waited out.

A source that fails is reported as `mlops_exporter_up{source} 0` and logged once when it goes
down (naming the setting to check) and once when it comes back; the other source still reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from mlops_pipelines.observability.families import families
from mlops_pipelines.observability.state import PipelineState, RegistryState, Snapshot, SourceRead

log = logging.getLogger(__name__)

DEFAULT_CACHE_SECONDS = 5.0
# Under Prometheus' shortest sensible scrape timeout (1 s), with room to render the answer.
DEFAULT_WAIT_SECONDS = 0.5
DEFAULT_STUCK_SECONDS = 30.0  # a read this long: the store does not answer (a firewalled host, a lock)


class Source(Protocol):
    name: str

    def setting(self) -> str:
        """Where the source is configured, e.g. 'DAGSTER_HOME=/srv/dagster': named when it fails."""
        ...

    def read(self) -> Sequence[Any]: ...


class PipelineCollector(Collector):
    def __init__(
        self,
        pipelines: Source,
        registry: Source,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        stuck_seconds: float = DEFAULT_STUCK_SECONDS,
    ) -> None:
        self._pipelines, self._registry = pipelines, registry
        self._cache_seconds, self._wait_seconds, self._stuck_seconds = (
            cache_seconds,
            wait_seconds,
            stuck_seconds,
        )
        self._in_read: tuple[Source, float] | None = None  # the source being read, since when
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._read_at = 0.0
        self._reading: threading.Thread | None = None
        self._errors: dict[str, str | None] = {}
        self.reads = 0  # how many times the sources were read (the cache's effect, for tests)

    def describe(self) -> list[Metric]:
        return []  # registering must not read the stores; metric names are not fixed up front

    def collect(self) -> Iterator[Metric]:
        yield from families(self.snapshot(), self._wall())

    def snapshot(self) -> Snapshot:
        """The newest snapshot; a read first when it is older than the cache period (see module doc)."""
        with self._lock:
            current = self._snapshot
            stale = current is None or self._clock() - self._read_at >= self._cache_seconds
            if stale and self._reading is None:
                self._reading = threading.Thread(target=self._refresh, name="exporter-read", daemon=True)
                self._reading.start()
            reading = self._reading
        if stale and reading is not None:
            reading.join(None if current is None else self._wait_seconds)
        with self._lock:
            assert self._snapshot is not None  # the first read was waited out
            return self._answer(self._snapshot)

    def _answer(self, snapshot: Snapshot) -> Snapshot:
        """`snapshot`, with the source of a read stuck past `stuck_seconds` down (lock held)."""
        if self._in_read is None or self._clock() - self._in_read[1] < self._stuck_seconds:
            return snapshot
        source, started = self._in_read
        waited = self._clock() - started
        error = f"{source.name} has not answered for {waited:.0f} s ({source.setting()})"
        if not self._errors.get(source.name):
            log.warning("exporter: %s", error)
        self._errors[source.name] = error
        return replace(
            snapshot,
            sources=tuple(
                SourceRead(s.source, False, waited, error) if s.source == source.name else s
                for s in snapshot.sources
            ),
            pipelines=() if source is self._pipelines else snapshot.pipelines,
            registries=() if source is self._registry else snapshot.registries,
        )

    def _refresh(self) -> None:
        snapshot = None
        try:
            snapshot = self._read_all()
        finally:
            with self._lock:
                if snapshot is not None:
                    self._snapshot, self._read_at = snapshot, self._clock()
                self._reading = None

    def _read_all(self) -> Snapshot:
        self.reads += 1
        pipelines_read, pipelines = self._read(self._pipelines)
        registry_read, registries = self._read(self._registry)
        return Snapshot(
            taken_at=self._wall(),
            sources=(pipelines_read, registry_read),
            pipelines=tuple(p for p in pipelines if isinstance(p, PipelineState)),
            registries=tuple(r for r in registries if isinstance(r, RegistryState)),
        )

    def _read(self, source: Source) -> tuple[SourceRead, Sequence[Any]]:
        started = self._clock()
        with self._lock:
            self._in_read = (source, started)
        try:
            found = source.read()
        except Exception as err:  # noqa: BLE001 (any failure of a store is reported as up 0, never a crash)
            error = f"{source.name} unreachable ({source.setting()}): {type(err).__name__}: {str(err)[:300]}"
            if self._errors.get(source.name) != error:
                log.warning("exporter: %s", error)
            self._errors[source.name] = error
            return SourceRead(source.name, False, self._clock() - started, error), ()
        finally:
            with self._lock:
                self._in_read = None
        if self._errors.get(source.name):
            log.info("exporter: %s is reachable again (%s)", source.name, source.setting())
        self._errors[source.name] = None
        return SourceRead(source.name, True, self._clock() - started), found
