"""Scraping a collector the way Prometheus does: its text exposition, parsed back into samples."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(collector: Collector) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@dataclass
class FakeSource:
    """A source answering with fixed records, or raising `error`; counts its reads.

    Stands in for a store in the collector's own tests (cache, up/down): the stores themselves
    are read for real in test_dagster_source.py, test_registry_source.py and the Prometheus test.
    """

    name: str
    records: Sequence[Any] = ()
    error: Exception | None = None
    reads: int = 0
    where: str = field(default="SETTING=/somewhere")
    hold: threading.Event | None = None  # set: each read waits until it is set (a busy store)

    def setting(self) -> str:
        return self.where

    def read(self) -> Sequence[Any]:
        self.reads += 1
        if self.hold is not None:
            self.hold.wait(30)
        if self.error is not None:
            raise self.error
        return tuple(self.records)
