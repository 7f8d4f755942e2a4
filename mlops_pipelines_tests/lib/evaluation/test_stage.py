"""evaluate_challenger without Dagster: a real challenger judged rolling-origin on its evaluation
partitions, or one that fails to load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.evaluation.backtest import read_evaluation_rows
from mlops_pipelines.lib.evaluation.stage import EvaluationReport, evaluate_challenger, score_version
from mlops_pipelines.lib.metrics import compute_metrics
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.lib.training.stage import train_challenger
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lib.model_support import ReportDir


@pytest.fixture
def holdout_spec(bike_spec: ProjectSpec) -> ProjectSpec:
    """The gate needs no more rows than the 6-day holdout holds (about 130): it is the evaluation."""
    return bike_spec.model_copy(
        update={"promotion": bike_spec.promotion.model_copy(update={"min_rows": 100})}
    )


@pytest.fixture
def challenger(
    holdout_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig
) -> ModelArtifact:
    return train_challenger(holdout_spec, bike_tables, tracking, as_of=None, reason="test")


def test_challenger_is_scored_out_of_sample_with_kpis_and_a_model_card(
    holdout_spec: ProjectSpec,
    bike_tables: DeltaTables,
    tracking: TrackingConfig,
    reports: ReportDir,
    challenger: ModelArtifact,
) -> None:
    bike_spec = holdout_spec
    assert challenger.window.evaluation == () and challenger.window.evaluated == challenger.window.holdout
    report = evaluate_challenger(bike_spec, challenger, bike_tables, tracking, reports)
    assert report.promotable and report.load_error is None
    assert (report.version, report.run_id) == (challenger.version, challenger.run_id)
    assert report.artifact_sha256 == challenger.artifact_sha256 and report.mismatch(challenger) is None
    assert report.evaluation is not None
    assert 0 < report.evaluation.metrics["mae"] < 120 and report.evaluation.metrics["r2"] > 0.5
    holdout = bike_tables.read(
        "bike_sharing",
        names.FEATURES,
        keys=list(challenger.window.holdout),
        version=challenger.features_version,
    )
    assert report.evaluation.n_rows == len(holdout) > 100
    assert (
        report.partitions == challenger.window.holdout
        and report.features_version == challenger.features_version
    )
    # 6 evaluation partitions in 3 folds, each predicted by a refit on as many partitions before it
    # as the served model learns from, or all of them (the history reaches back past the
    # challenger's window here, so even fold 1 learns from more than the challenger did).
    assert [f.partitions for f in report.folds] == [challenger.window.holdout[i : i + 2] for i in (0, 2, 4)]
    assert [f.model for f in report.folds] == ["refit", "refit", "refit"]
    served = len(challenger.window.train) + len(challenger.window.holdout)
    keys = sorted(bike_tables.partitions("bike_sharing", names.FEATURES, challenger.features_version))
    for fold in report.folds:
        before = [k for k in keys if k < fold.partitions[0]]
        assert fold.train == tuple(before[-served:])
        assert len(fold.train) > len(challenger.window.train)
    assert sum(f.rows for f in report.folds) == report.evaluation.n_rows
    assert report.evaluation.importance  # permutation importance of the challenger on fold 1
    assert [(k.metric, k.passed) for k in report.kpis] == [("r2", True), ("mae", True)]
    assert report.model_card_path is not None
    card = Path(report.model_card_path)
    assert card == reports.root / "bike_sharing/model_cards/v1.md" and "bike_sharing" in card.read_text()
    assert json.loads(card.with_suffix(".json").read_text())
    with open_client(tracking) as client:
        run = client.get_run(challenger.run_id)
    assert run.data.metrics["pooled_mae"] == pytest.approx(report.evaluation.metrics["mae"])
    assert run.data.metrics["holdout_mae"] == pytest.approx(report.holdout_metrics["mae"])
    assert run.data.tags["mlops.evaluated"] == "true"
    # The gate's re-score of the registered version on the same rows reproduces its holdout metrics.
    rows = read_evaluation_rows(bike_spec, bike_tables, report.partitions, challenger.features_version)
    again = score_version(bike_spec, challenger.version, rows, tracking)
    assert compute_metrics(again, bike_spec.task)[0] == report.holdout_metrics


def test_too_few_holdout_rows_for_the_gate_extend_the_evaluation_not_the_served_window(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, tracking: TrackingConfig, reports: ReportDir
) -> None:
    # The default gate needs 200 rows; the 6-day holdout holds about 130 (January 2011).
    model = train_challenger(bike_spec, bike_tables, tracking, as_of=None, reason="test")
    window = model.window
    assert len(window.holdout) == 6 and len(window.evaluation) > 6
    assert window.evaluation[-6:] == window.holdout and window.train[-1] in window.evaluation
    keys = sorted(bike_tables.partitions("bike_sharing", names.FEATURES, model.features_version))
    rows = {k: len(bike_tables.read("bike_sharing", names.FEATURES, keys=[k])) for k in keys}
    assert sum(rows[k] for k in window.evaluation) >= 200 > sum(rows[k] for k in window.evaluation[1:])
    report = evaluate_challenger(bike_spec, model, bike_tables, tracking, reports)
    assert report.partitions == window.evaluation and report.evaluation is not None
    assert report.evaluation.n_rows == sum(rows[k] for k in window.evaluation)
    # Folds keep the holdout's fold length (2 partitions: more folds, not longer ones), each
    # learning from as many partitions before it as the served model does, none in sample.
    assert len(report.folds) == -(-len(window.evaluation) // 2)
    assert all(1 <= len(f.partitions) <= 2 for f in report.folds)
    assert tuple(p for f in report.folds for p in f.partitions) == window.evaluation
    served = len(window.train) + len(window.holdout)
    for fold in report.folds:
        assert fold.train == tuple([k for k in keys if k < fold.partitions[0]][-served:])
        assert fold.model == "refit" and fold.train[-1] < fold.partitions[0]
    # The registered challenger's own metrics stay on its holdout, where it is out of sample.
    rows = read_evaluation_rows(bike_spec, bike_tables, window.holdout, model.features_version)
    again = score_version(bike_spec, model.version, rows, tracking)
    assert compute_metrics(again, bike_spec.task)[0] == report.holdout_metrics


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
    assert report.folds == () and report.holdout_metrics == {}
    assert not (reports.root / "bike_sharing" / "model_cards").exists()
    with open_client(tracking) as client:
        assert "holdout_mae" not in client.get_run(challenger.run_id).data.metrics


def test_a_report_is_frozen_and_names_a_mismatched_model(challenger: ModelArtifact) -> None:
    report = EvaluationReport("1", "run", "sha", None, (), None, load_error="ModelLoadError: x")
    with pytest.raises(AttributeError):
        report.version = "2"  # type: ignore[misc]
    assert not report.promotable
    mismatch = report.mismatch(challenger)
    assert mismatch is not None and "evaluation is of version 1 (run run" in mismatch
    assert f"the challenger is version 1 (run {challenger.run_id}" in mismatch
