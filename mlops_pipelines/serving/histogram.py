"""A Prometheus histogram fed whole arrays: one call per scored batch, not one per row.

prometheus_client's Histogram takes one value per `observe` call, each under a lock: a
100-row request costs 100 calls on the log writer's thread, which shares the GIL with the
request path. This collector bins an array with numpy and exposes the same text format.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString


class ArrayHistogram:
    """A histogram with one label, registered on `registry`, observed an array at a time."""

    def __init__(
        self, name: str, documentation: str, label: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        bounds = np.asarray(sorted(float(b) for b in buckets if b != float("inf")), dtype="float64")
        if len(bounds) == 0:
            raise ValueError(f"histogram {name} needs at least one finite bucket bound")
        self._name, self._documentation, self._label = name, documentation, label
        self._bounds = bounds
        self._le = [floatToGoString(b) for b in bounds] + ["+Inf"]
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, value: str, values: np.ndarray) -> None:
        """Count every non-NaN value of `values` under label `value` (NaN never lands in a bucket)."""
        numbers = np.asarray(values, dtype="float64")
        numbers = numbers[~np.isnan(numbers)]
        # Prometheus buckets are `le` (<= bound): the first bound >= v is v's bucket.
        counts = np.bincount(np.searchsorted(self._bounds, numbers, side="left"), minlength=len(self._le))
        total = float(numbers.sum())
        with self._lock:
            self._counts[value] = self._counts.get(value, 0) + counts
            self._sums[value] = self._sums.get(value, 0.0) + total

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=[self._label])

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = self._family()
        with self._lock:
            snapshot = [(value, counts.copy(), self._sums[value]) for value, counts in self._counts.items()]
        for value, counts, total in snapshot:
            cumulative = np.cumsum(counts)
            buckets = [(le, float(c)) for le, c in zip(self._le, cumulative, strict=True)]
            family.add_metric([value], buckets, total)
        yield family
