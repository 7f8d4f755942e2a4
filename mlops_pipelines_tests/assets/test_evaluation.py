"""The evaluation asset in real Dagster runs: holdout metrics and the model card, and the
blocking `promotable` check that keeps a challenger that fails to load from the gate."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.lib.evaluation.stage import EvaluationReport
from mlops_pipelines.lib.registry.aliases import aliases
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.model_runs import materialization, prepare_bike, refit_champion, retrain


def test_evaluation_scores_the_holdout_and_writes_the_model_card(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    bike = prepare_bike(specs, instance)
    keys = [dg.AssetKey(["bike_sharing", n]) for n in (names.MODEL, names.EVALUATION)]
    result = retrain(bike, instance, asset_selection=keys)
    assert result.success
    meta = materialization(result, names.EVALUATION).metadata
    assert 0 < meta["holdout_mae"].value < 120 and meta["holdout_r2"].value > 0.5
    assert meta[names.META_HOLDOUT_ROWS].value > 100 and names.META_LOAD_ERROR not in meta
    card = (mlops_home / "reports/bike_sharing/model_cards/v1.md").read_text()
    assert "bike_sharing" in card
    assert meta[names.META_MODEL_CARD].value.endswith("model_cards/v1.md")
    [check] = result.get_asset_check_evaluations()
    assert check.asset_check_key.name == names.PROMOTABLE_CHECK and check.passed
    report = result.output_for_node(names.scoped("bike_sharing", names.EVALUATION))
    assert isinstance(report, EvaluationReport) and report.promotable and report.version == "1"


def test_challenger_that_fails_to_load_is_never_promoted(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    bike = prepare_bike(specs, instance)
    assert retrain(bike, instance).success
    champion = refit_champion("bike_sharing", "1").version  # v1 won the gate; its refit serves
    model_only = retrain(bike, instance, asset_selection=[dg.AssetKey(["bike_sharing", "model"])])
    assert model_only.success
    challenger = materialization(model_only, names.MODEL).metadata[names.META_MODEL_VERSION].value
    assert challenger not in ("1", champion)
    pickles = sorted((mlops_home / "mlflow").rglob("model.pkl"), key=lambda p: p.stat().st_mtime)
    pickles[-1].write_bytes(pickles[-1].read_bytes()[:-10] + b"tampered!!")  # the newest: the challenger's
    rest = retrain(
        bike, instance, asset_selection=[dg.AssetKey(["bike_sharing", n]) for n in ("evaluation", "champion")]
    )
    assert not rest.success
    checks = {e.asset_check_key.name: e for e in rest.get_asset_check_evaluations()}
    assert not checks["promotable"].passed
    integrity = f"ModelIntegrityError: bike_sharing version {challenger}: artifact sha256"
    assert (checks["promotable"].description or "").startswith(integrity)
    assert not [e for e in rest.get_asset_materialization_events() if e.asset_key.path[-1] == "champion"]
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == champion
    meta = materialization(rest, names.EVALUATION).metadata
    assert meta[names.META_LOAD_ERROR].value.startswith("ModelIntegrityError")
