"""The champion asset in real Dagster runs: the gate after a retrain, MLflow (SQLite + files),
the ChampionRef it hands on, and the rollback job (also from the command line)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import cli, names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.registry.aliases import RollbackError, aliases, rollback
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.model_runs import (
    LAST,
    extend_bike,
    later,
    meta,
    prepare_bike,
    refit_champion,
    retrain,
    small,
    weak,
)

CHAMPION_OP = names.scoped("bike_sharing", names.CHAMPION)
ROLLBACK_JOB = names.scoped("bike_sharing", names.ROLLBACK_JOB)


def decision(result: dg.ExecuteInProcessResult) -> dict:
    return meta(result, names.CHAMPION)


@pytest.fixture
def bike(specs: dict[str, ProjectSpec], instance: dg.DagsterInstance) -> ProjectSpec:
    return prepare_bike(specs, instance)


def test_first_model_is_tracked_registered_and_promoted(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    result = retrain(bike, instance)
    assert result.success
    verdict = decision(result)
    # v1 wins the gate; its refit on the whole window (v2) is the version that goes live.
    assert verdict["verdict"] == "promote" and verdict["champion_after"] == "2"
    assert (verdict[names.META_CHALLENGER_VERSION], verdict[names.META_EVALUATED_VERSION]) == ("1", "1")
    assert verdict[names.META_REFIT_VERSION] == "2"
    assert verdict[names.META_CHAMPION_BEFORE] is None and verdict[names.META_RETIRED_VERSIONS] is None
    assert refit_champion("bike_sharing", "1").version == "2"
    cfg = LocalMlflowTracking().config()
    assert aliases(cfg, "bike_sharing")["champion"] == "2"
    record = json.loads((mlops_home / "reports/bike_sharing/decisions/v1.json").read_text())
    assert record["verdict"] == "promote" and record["champion_version"] is None
    assert (record["challenger_version"], record["refit_version"]) == ("1", "2")
    assert verdict[names.META_DECISION_RECORD].endswith("decisions/v1.json")
    champion = result.output_for_node(CHAMPION_OP)
    assert isinstance(champion, ChampionRef)
    assert (champion.version, champion.source, champion.metric) == ("2", "promotion", "mae")
    assert champion.evaluated_score == verdict["challenger_score"]  # the level v1 was evaluated at
    # v1 trained on 01-06..01-17 and held out 01-18..01-23 (about 130 rows, fewer than the gate's
    # 200: its evaluation reached back to 01-15); its refit learned from 01-06..01-23 all the same.
    assert champion.train_range == ("2011-01-06", "2011-01-23") and champion.as_of == LAST
    assert verdict[names.META_CHAMPION_SOURCE] == "promotion"
    assert verdict[names.META_CHAMPION_TRAIN_RANGE] == "2011-01-06..2011-01-23"
    evaluated = meta(result, names.MODEL)[names.META_EVALUATION_PARTITIONS]
    assert evaluated == "2011-01-15..2011-01-23 (9)"
    assert verdict[names.META_EVALUATED_PARTITIONS] == ", ".join(f"2011-01-{d}" for d in range(15, 24))


def test_challenger_on_the_champions_own_window_is_insufficient_evidence_and_champion_kept(
    bike: ProjectSpec, instance: dg.DagsterInstance
) -> None:
    assert retrain(bike, instance).success
    # Same data: every partition v3 is evaluated on lies inside the refit champion's training
    # range, so nothing is comparable out of sample and the champion stays.
    result = retrain(bike, instance)
    assert result.success
    verdict = decision(result)
    assert verdict["verdict"] == "insufficient_evidence"
    assert verdict[names.META_CHALLENGER_VERSION] == "3" and verdict[names.META_REFIT_VERSION] is None
    assert verdict[names.META_COMPARED_ROWS] == 0
    assert verdict[names.META_EXCLUDED_PARTITIONS] == verdict[names.META_EVALUATED_PARTITIONS]
    assert "insufficient evidence: 0 comparable rows, 200 needed; champion v2 kept" in verdict["reasons"]
    assert verdict["champion_before"] == verdict["champion_after"] == "2"
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "2"
    champion = result.output_for_node(CHAMPION_OP)
    assert (champion.version, champion.source) == ("2", "kept")


def test_champion_that_cannot_be_rescored_fails_the_gate_closed_with_an_alert(
    bike: ProjectSpec, instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    assert retrain(bike, instance).success
    champion = refit_champion("bike_sharing", "1")
    model_id = champion.tags[names.ML_MODEL_ID]
    [pickle] = [p for p in (mlops_home / "mlflow").rglob("model.pkl") if model_id in p.parts]
    pickle.write_bytes(pickle.read_bytes()[:-10] + b"tampered!!")  # the serving refit's artifact
    result = retrain(bike, instance)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == CHAMPION_OP
    error = failure.step_failure_data.error
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    [cause] = [e for e in chain if e.cls_name == "ChampionRescoreError"]
    assert f"bike_sharing: champion v{champion.version} could not be re-scored" in cause.message
    assert "no promotion without a comparison" in cause.message
    assert not [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "champion"]
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == champion.version
    sent = [json.loads(line) for line in (mlops_home / "alerts.jsonl").read_text().splitlines()]
    errors = [(a["project"], a["title"]) for a in sent if a["severity"] == "error"]
    assert errors == [("bike_sharing", "champion could not be re-scored: no promotion")]


def test_case_31_worse_challenger_is_rejected_and_champion_kept(
    bike: ProjectSpec, instance: dg.DagsterInstance
) -> None:
    assert retrain(bike, instance).success  # champion v2, the refit of v1
    extend_bike(bike, instance)
    result = retrain(later(weak(bike)), instance)
    verdict = decision(result)
    assert verdict["verdict"] == "reject"
    assert verdict[names.META_CHALLENGER_VERSION] == "3" and verdict[names.META_REFIT_VERSION] is None
    assert verdict[names.META_COMPARED_ROWS] >= bike.promotion.min_rows
    assert verdict[names.META_EXCLUDED_PARTITIONS] is None  # evaluated on days the champion never saw
    assert verdict["challenger_score"] > verdict["champion_score"]  # MAE: higher is worse
    assert "possibly worse than the champion" in verdict["reasons"] or "KPI" in verdict["reasons"]
    assert verdict["champion_after"] == "2"
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "2"
    champion = result.output_for_node(CHAMPION_OP)
    assert (champion.version, champion.source) == ("2", "kept")


def test_better_challenger_is_promoted_and_rollback_restores(
    bike: ProjectSpec, instance: dg.DagsterInstance
) -> None:
    relaxed = weak(bike).model_copy(update={"kpis": []})  # let the weak model become the first champion
    assert decision(retrain(relaxed, instance))["verdict"] == "promote"
    first = refit_champion("bike_sharing", "1").version
    extend_bike(bike, instance)
    verdict = decision(retrain(later(bike), instance))
    assert verdict["verdict"] == "promote", verdict["reasons"]
    assert verdict["challenger_score"] < verdict["champion_score"]  # MAE: lower is better
    assert verdict[names.META_COMPARED_ROWS] >= bike.promotion.min_rows
    second = refit_champion("bike_sharing", verdict[names.META_CHALLENGER_VERSION]).version
    assert verdict[names.META_REFIT_VERSION] == verdict["champion_after"] == second
    assert verdict["champion_before"] == first
    cfg = LocalMlflowTracking().config()
    assert {"champion": second, "previous-champion": first}.items() <= aliases(cfg, "bike_sharing").items()
    restored = rollback(cfg, "bike_sharing", LocalMlflowTracking().lock_path("bike_sharing"))
    assert restored.version == first and aliases(cfg, "bike_sharing")["champion"] == first


def test_rollback_job_moves_the_champion_back_as_a_lineage_event(
    bike: ProjectSpec, instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str]
) -> None:
    relaxed = weak(bike).model_copy(update={"kpis": []})
    assert decision(retrain(relaxed, instance))["verdict"] == "promote"
    assert refit_champion("bike_sharing", "1").version == "2"
    extend_bike(bike, instance)
    assert decision(retrain(later(bike), instance))["verdict"] == "promote"
    assert refit_champion("bike_sharing", "3").version == "4"
    capsys.readouterr()
    # The command line runs the rollback job on the same instance (DAGSTER_HOME) and registry.
    assert cli.main(["rollback", "--project", "bike_sharing"]) == 0
    assert capsys.readouterr().out.strip() == "bike_sharing: champion is now version 2"
    [run] = instance.get_runs(dg.RunsFilter(job_name=ROLLBACK_JOB))
    assert run.is_success and run.tags[names.KIND_TAG] == names.KIND_ROLLBACK
    defs = build_definitions({bike.name: bike})
    champion = defs.load_asset_value(["bike_sharing", names.CHAMPION], instance=instance)
    assert isinstance(champion, ChampionRef)
    assert (champion.version, champion.source) == ("2", "rollback")
    assert champion.decided_at is not None and champion.metric == "mae"
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "2"
    event = instance.get_latest_materialization_event(dg.AssetKey(["bike_sharing", names.CHAMPION]))
    assert event is not None and event.asset_materialization is not None
    restored = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert restored[names.META_ACTION] == "rollback" and restored[names.META_CHAMPION_SOURCE] == "rollback"
    assert (restored["champion_before"], restored["champion_after"]) == ("4", "2")
    assert names.META_VERDICT not in restored  # a rollback is not a gate decision

    # The rolled-back version is no rollback target: a second rollback fails, by job or by CLI.
    again = run_job(defs, ROLLBACK_JOB, instance)
    assert not again.success
    with pytest.raises(RollbackError, match="bike_sharing: no previous champion to roll back to"):
        run_job(defs, ROLLBACK_JOB, instance, raise_on_error=True)
    capsys.readouterr()
    assert cli.main(["rollback", "--project", "bike_sharing"]) == 1
    err = capsys.readouterr().err
    assert "mlops-pipelines rollback: bike_sharing: no previous champion to roll back to" in err
    assert "Traceback" not in err
    assert len(instance.get_runs(dg.RunsFilter(job_name=ROLLBACK_JOB))) == 4  # each one on record
    assert aliases(LocalMlflowTracking().config(), "bike_sharing")["champion"] == "2"


def test_gate_without_a_model_upstream_fails_naming_it(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    result = retrain(
        small(specs["bike_sharing"]), instance, asset_selection=[dg.AssetKey(["bike_sharing", "champion"])]
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    cause = failure.step_failure_data.error.cause if failure.step_failure_data.error else None
    assert cause is not None and cause.cls_name == "GateInputError"
    assert "bike_sharing: the gate needs the model upstream" in cause.message
