"""A short sudden-drift stream (simulator, 100 days, two rows per station-hour) replayed once
per test session: small enough to fit every strategy in seconds, long enough for the policy
to see the concept change on day 60."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.backtest.engine import bootstrap_index, bootstrap_params
from mlops_pipelines.lib.backtest.history import History, load_history
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.spec import PACKAGED_PROJECTS, ProjectSpec, load_spec


def short_spec(**retraining: object) -> ProjectSpec:
    spec = load_spec(PACKAGED_PROJECTS / "scenarios" / "sim_sudden.yaml")
    data = spec.model_dump()
    data["source"]["simulator"].update(days=100, rows_per_hour=2, concept_change="2024-03-01")
    data["partitions"]["end"] = "2024-04-10"
    data["retraining"].update(retraining)
    return ProjectSpec.model_validate(data)


@pytest.fixture(scope="session")
def short_history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return load_history(short_spec(), None, Path(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def short_bank(short_history: History) -> tuple[ModelBank, int]:
    boot = bootstrap_index(short_history)
    return ModelBank(short_history, bootstrap_params(short_history, boot), workers=1), boot
