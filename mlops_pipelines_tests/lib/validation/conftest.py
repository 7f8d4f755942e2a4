"""Fixtures of the validation stage tests."""

from __future__ import annotations

import pytest

from mlops_pipelines.spec import ProjectSpec


@pytest.fixture
def faulty(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    """demand_sim corrupting every day in a fixed rotation (day 1 out-of-range temp, day 2
    all-null humidity, day 3 unseen weather category, day 4 duplicates)."""
    spec = specs["demand_sim"]
    assert spec.source.simulator is not None
    simulator = spec.source.simulator.model_copy(update={"bad_batch_every": 1})
    return spec.model_copy(update={"source": spec.source.model_copy(update={"simulator": simulator})})
