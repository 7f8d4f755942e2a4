"""The array-fed histogram exposes exactly what prometheus_client's own Histogram would."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from mlops_pipelines.serving.histogram import ArrayHistogram

BUCKETS = (0.0, 1.0, 2.5, 10.0, 100.0)


def _lines(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("#")]


def test_same_text_as_prometheus_histogram_for_the_same_values() -> None:
    rng = np.random.default_rng(3)
    batches = [rng.normal(5, 20, size) for size in (1, 7, 100)]
    batches.append(np.array([0.0, 1.0, 2.5, 10.0, 100.0, np.nan, 1e9, -3.0]))  # bounds, NaN, outliers
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    array_histogram = ArrayHistogram("values", "doc", "route", BUCKETS, ours)
    reference = Histogram("values", "doc", ["route"], buckets=BUCKETS, registry=theirs)
    for route, batch in zip(["a", "b", "a", "b"], batches, strict=True):
        array_histogram.observe_many(route, batch)
        for value in batch.tolist():
            if value == value:
                reference.labels(route).observe(value)
    expected = [line for line in _lines(theirs) if "_created" not in line]
    assert sorted(_lines(ours)) == sorted(expected)


def test_a_histogram_needs_a_finite_bound() -> None:
    with pytest.raises(ValueError, match="needs at least one finite bucket bound"):
        ArrayHistogram("values", "doc", "route", [float("inf")], CollectorRegistry())
