"""The evaluation stage: the challenger on its own holdout, its KPIs and its model card.

`evaluate_challenger` is everything the `evaluation` asset does, without Dagster. A challenger
that fails the integrity check or cannot load and predict its stored example is not an error
of the stage: it is the stage's finding, recorded as `EvaluationReport.load_error`, which makes
the blocking `promotable` check fail so the champion gate never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import Evaluation, KpiResult
    from mlops_pipelines.lib.ports import ReportFiles, TableStore
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import ModelArtifact
    from mlops_pipelines.spec import ProjectSpec

MODEL_CARDS = "model_cards"  # the report kind model cards are filed under


@dataclass(frozen=True)
class EvaluationReport:
    """What the evaluation found about one registered version (the model it names)."""

    version: str
    run_id: str
    artifact_sha256: str
    evaluation: Evaluation | None  # None when the model did not load (see load_error)
    kpis: tuple[KpiResult, ...]
    model_card_path: str | None  # the Markdown card; None when the model did not load
    load_error: str | None  # "ErrorType: message" when the model failed to load, else None

    @property
    def promotable(self) -> bool:
        return self.load_error is None and self.evaluation is not None


def holdout_scores(
    spec: ProjectSpec,
    version: str,
    model: ModelArtifact,
    tables: TableStore,
    tracking: TrackingConfig,
    *,
    importance_rows: int = 2000,
) -> Evaluation:
    """Registered `version` scored on `model`'s holdout: its partitions at its features version.

    The champion gate scores the serving champion with this too, so both models are judged on
    exactly the same rows.
    """
    from mlops_pipelines.lib.evaluation.holdout import evaluate_model
    from mlops_pipelines.lib.registry.model_loading import load_model
    from mlops_pipelines.lib.training.window import split_features

    loaded = load_model(tracking, spec.name, version)
    rows = tables.read(
        spec.name, names.FEATURES, keys=list(model.window.holdout), version=model.features_version
    )
    holdout = split_features(rows, spec)
    return evaluate_model(
        loaded.model.get_raw_model(),
        holdout.features,
        holdout.target,
        spec,
        context=holdout.context,
        importance_rows=importance_rows,
    )


def load_failure(tracking: TrackingConfig, project: str, version: str) -> str | None:
    """Why `version` cannot serve ("ErrorType: message"), or None when it verifies, loads and predicts."""
    from mlops_pipelines.lib.registry.model_loading import verify_loadable

    try:
        verify_loadable(tracking, project, version)
    except Exception as err:  # noqa: BLE001 - any load failure makes the challenger unpromotable; the report carries it
        return f"{type(err).__name__}: {err}"
    return None


def evaluate_challenger(
    spec: ProjectSpec,
    model: ModelArtifact,
    tables: TableStore,
    tracking: TrackingConfig,
    reports: ReportFiles,
) -> EvaluationReport:
    """Holdout metrics, slices, fairness, importance, KPIs and a model card for `model`, logged to
    its MLflow run; a model that does not load gives a report with `load_error` and nothing else."""
    from mlops_pipelines.lib.evaluation.holdout import check_kpis
    from mlops_pipelines.lib.evaluation.model_card import model_card
    from mlops_pipelines.lib.evaluation.plots import render_plots
    from mlops_pipelines.lib.registry.tracking import log_evaluation

    failure = load_failure(tracking, spec.name, model.version)
    if failure is not None:
        return EvaluationReport(
            model.version, model.run_id, model.artifact_sha256, None, (), None, load_error=failure
        )
    result = holdout_scores(spec, model.version, model, tables, tracking)
    kpis = check_kpis(result, spec)
    card = model_card(
        spec, result, lineage={**model.tags, "model_version": model.version, "run_id": model.run_id}
    )
    card_md = reports.path(spec.name, MODEL_CARDS, f"v{model.version}.md")
    card_md.write_text(card.markdown, encoding="utf-8")
    reports.path(spec.name, MODEL_CARDS, f"v{model.version}.json").write_text(card.json, encoding="utf-8")
    log_evaluation(
        tracking,
        model.run_id,
        metrics={f"holdout_{k}": float(v) for k, v in result.metrics.items()},
        figures=render_plots(result),
        json_artifacts={"evaluation": result.to_dict(), "model_card": card.data},
    )
    return EvaluationReport(
        version=model.version,
        run_id=model.run_id,
        artifact_sha256=model.artifact_sha256,
        evaluation=result,
        kpis=tuple(kpis),
        model_card_path=str(card_md),
        load_error=None,
    )
