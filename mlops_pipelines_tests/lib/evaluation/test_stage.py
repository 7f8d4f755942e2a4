"""evaluate_challenger without Dagster: a real challenger on its real holdout, or one that fails to load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.evaluation.stage import EvaluationReport, evaluate_challenger, holdout_scores
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.lib.training.stage import train_challenger
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lib.model_support import ReportDir


@pytest.fixture
def challenger(bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig) -> ModelArtifact:
    return train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")


def test_challenger_is_scored_on_its_holdout_with_kpis_and_a_model_card(
    bike_spec: ProjectSpec,
    bike_tables: DeltaTables,
    tracking: TrackingConfig,
    reports: ReportDir,
    challenger: ModelArtifact,
) -> None:
    report = evaluate_challenger(bike_spec, challenger, bike_tables, tracking, reports)
    assert report.promotable and report.load_error is None
    assert (report.version, report.run_id) == (challenger.version, challenger.run_id)
    assert report.artifact_sha256 == challenger.artifact_sha256
    assert report.evaluation is not None
    assert 0 < report.evaluation.metrics["mae"] < 120 and report.evaluation.metrics["r2"] > 0.5
    holdout = bike_tables.read(
        "bike_sharing",
        names.FEATURES,
        keys=list(challenger.window.holdout),
        version=challenger.features_version,
    )
    assert report.evaluation.n_rows == len(holdout) > 100
    assert [(k.metric, k.passed) for k in report.kpis] == [("r2", True), ("mae", True)]
    assert report.model_card_path is not None
    card = Path(report.model_card_path)
    assert card == reports.root / "bike_sharing/model_cards/v1.md" and "bike_sharing" in card.read_text()
    assert json.loads(card.with_suffix(".json").read_text())
    with open_client(tracking) as client:
        run = client.get_run(challenger.run_id)
    assert run.data.metrics["holdout_mae"] == pytest.approx(report.evaluation.metrics["mae"])
    assert run.data.tags["mlops.evaluated"] == "true"
    # The gate's re-score of a model on the same holdout reproduces the evaluation's metrics.
    again = holdout_scores(
        bike_spec, challenger.version, challenger, bike_tables, tracking, importance_rows=0
    )
    assert again.metrics == report.evaluation.metrics and again.importance == []


def test_challenger_that_fails_to_load_gives_a_report_with_its_error_and_nothing_else(
    bike_spec: ProjectSpec,
    bike_tables: DeltaTables,
    tracking: TrackingConfig,
    reports: ReportDir,
    challenger: ModelArtifact,
    tmp_path: Path,
) -> None:
    [pickle] = (tmp_path / "state" / "mlartifacts").rglob("model.pkl")
    pickle.write_bytes(pickle.read_bytes()[:-10] + b"tampered!!")
    report = evaluate_challenger(bike_spec, challenger, bike_tables, tracking, reports)
    assert not report.promotable
    assert report.load_error is not None and report.load_error.startswith("ModelIntegrityError")
    assert f"version {challenger.version}" in report.load_error
    assert report.evaluation is None and report.kpis == () and report.model_card_path is None
    assert not (reports.root / "bike_sharing" / "model_cards").exists()
    with open_client(tracking) as client:
        assert "holdout_mae" not in client.get_run(challenger.run_id).data.metrics


def test_a_report_is_frozen() -> None:
    report = EvaluationReport("1", "run", "sha", None, (), None, load_error="ModelLoadError: x")
    with pytest.raises(AttributeError):
        report.version = "2"  # type: ignore[misc]
    assert not report.promotable
