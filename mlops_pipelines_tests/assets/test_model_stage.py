"""Train, evaluate and promote for real: Dagster runs, MLflow (SQLite + files), the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.registry.aliases import aliases, rollback
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec

FIRST, LAST = "2011-01-01", "2011-01-24"


def small(spec: ProjectSpec, **training: Any) -> ProjectSpec:
    base = {
        "window_partitions": 12,
        "holdout_partitions": 6,
        "cv_folds": 3,
        "search_space": {"model__max_iter": [60], "model__learning_rate": [0.1]},
        "search_iterations": 1,
    }
    return spec.model_copy(update={"training": spec.training.model_copy(update={**base, **training})})


def weak(spec: ProjectSpec) -> ProjectSpec:
    """A deliberately worse model: linear, trained on only the last 3 partitions."""
    return small(spec, family="linear", window_partitions=3, search_space={})


def retrain(spec: ProjectSpec, instance: dg.DagsterInstance, **kwargs: Any) -> dg.ExecuteInProcessResult:
    return run_job(build_definitions({spec.name: spec}), f"{spec.name}__retrain", instance, **kwargs)


def decision(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "champion"]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


@pytest.fixture
def bike(specs: dict[str, ProjectSpec], instance: dg.DagsterInstance) -> ProjectSpec:
    spec = small(specs["bike_sharing"])
    assert run_job(build_definitions({spec.name: spec}), "bike_sharing__data", instance, FIRST, LAST).success
    return spec


def test_first_model_is_tracked_registered_and_promoted(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    result = retrain(bike, instance)
    assert result.success
    verdict = decision(result)
    assert verdict["verdict"] == "promote" and verdict["champion_after"] == "1"
    cfg = LocalMlflowTracking().config()
    assert aliases(cfg, "bike_sharing")["champion"] == "1"
    record = json.loads((mlops_home / "reports/bike_sharing/decisions/v1.json").read_text())
    assert record["verdict"] == "promote" and record["champion_version"] is None
    card = (mlops_home / "reports/bike_sharing/model_cards/v1.md").read_text()
    assert "bike_sharing" in card
    [evaluation] = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "evaluation"
    ]
    meta = evaluation.materialization.metadata
    assert 0 < meta["holdout_mae"].value < 120 and meta["holdout_r2"].value > 0.5
    [model] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "model"]
    assert model.materialization.metadata["features_version"].value >= 0


def test_worse_challenger_is_rejected_and_champion_kept(
    bike: ProjectSpec, instance: dg.DagsterInstance
) -> None:
    assert retrain(bike, instance).success
    result = retrain(weak(bike), instance)
    verdict = decision(result)
    assert verdict["verdict"] == "reject"
    assert verdict["champion_after"] == "1"
    assert "CI" in verdict["reasons"] or "KPI" in verdict["reasons"]
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "1"


def test_better_challenger_is_promoted_and_rollback_restores(
    bike: ProjectSpec, instance: dg.DagsterInstance
) -> None:
    relaxed = weak(bike).model_copy(update={"kpis": []})  # let the weak model become the first champion
    assert decision(retrain(relaxed, instance))["verdict"] == "promote"
    verdict = decision(retrain(bike, instance))
    assert verdict["verdict"] == "promote", verdict["reasons"]
    assert verdict["challenger_score"] < verdict["champion_score"]  # MAE: lower is better
    cfg = LocalMlflowTracking().config()
    assert {"champion": "2", "previous-champion": "1"}.items() <= aliases(cfg, "bike_sharing").items()
    restored = rollback(cfg, "bike_sharing", LocalMlflowTracking().lock_path("bike_sharing"))
    assert restored.version == "1" and aliases(cfg, "bike_sharing")["champion"] == "1"


def test_challenger_that_fails_to_load_is_never_promoted(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    assert retrain(bike, instance).success  # champion v1
    model_only = retrain(bike, instance, asset_selection=[dg.AssetKey(["bike_sharing", "model"])])
    assert model_only.success
    pickles = sorted((mlops_home / "mlflow").rglob("model.pkl"), key=lambda p: p.stat().st_mtime)
    pickles[-1].write_bytes(pickles[-1].read_bytes()[:-10] + b"tampered!!")  # the newest: v2's artifact
    rest = retrain(
        bike, instance, asset_selection=[dg.AssetKey(["bike_sharing", n]) for n in ("evaluation", "champion")]
    )
    assert not rest.success
    checks = {e.asset_check_key.name: e for e in rest.get_asset_check_evaluations()}
    assert not checks["promotable"].passed
    assert "Integrity" in (checks["promotable"].description or "")
    assert not [e for e in rest.get_asset_materialization_events() if e.asset_key.path[-1] == "champion"]
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "1"
