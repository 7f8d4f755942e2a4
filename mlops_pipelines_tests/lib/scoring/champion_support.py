"""A trained version named champion by a `ChampionRef` built directly (no promotion, no Dagster).

Scoring and monitoring take the champion as a value; their stage tests build that value from
a version the training stage really trained and registered, so loading it by version is real
MLflow (SQLite + files) and the reference window is the real training window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class Served:
    tracking: TrackingConfig
    champion: ChampionRef


def champion_of(spec: ProjectSpec, tables: DeltaTables, tracking: TrackingConfig) -> ChampionRef:
    """Train and register one version; the ChampionRef the champion asset would hand on for it."""
    from mlops_pipelines.lib.training.stage import train_challenger

    model = train_challenger(spec, tables, tracking, as_of=None, reason="scoring and monitoring tests")
    return ChampionRef(
        project=spec.name,
        version=model.version,
        run_id=model.run_id,
        features_version=model.features_version,
        train_range=(model.window.train[0], model.window.train[-1]),
        as_of=model.window.as_of,
        source="promotion",
    )


@pytest.fixture(scope="module")
def served(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One trained champion per test module (training is the slow part)."""
    state = tmp_path_factory.mktemp("served")
    guard = state / "global-mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{guard}")
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        tracking = TrackingConfig.embedded(state / "state")
        yield Served(tracking, champion_of(bike_spec, bike_tables, tracking))
    assert not guard.exists(), "library code used MLflow's global tracking URI"


def features_slice(spec: ProjectSpec, tables: DeltaTables, *partitions: str) -> TableSlice:
    """The features rows of `partitions` at the table's current version, as an asset hands them on."""
    version = tables.version(spec.name, names.FEATURES)
    return TableSlice(
        f"{spec.name}/{names.FEATURES}", tables.uri(spec.name, names.FEATURES), version, partitions, -1
    )


def nothing_scored(spec: ProjectSpec, tables: DeltaTables) -> TableSlice:
    """The predictions handle of a run that had no champion: no version, no partitions."""
    return TableSlice(f"{spec.name}/{names.PREDICTIONS}", tables.uri(spec.name, names.PREDICTIONS), -1, (), 0)
