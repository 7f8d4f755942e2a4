"""The evaluation stage: the challenger judged out of sample, as it will serve; its KPIs and card.

`evaluate_challenger` is everything the `evaluation` asset does, without Dagster. The evidence
is a rolling-origin backtest over the evaluation partitions (`backtest`): fold 1 predicted by
the registered challenger, each later fold by the same hyperparameters fitted on the window
just before it; the pooled out-of-sample predictions are what the gate judges, the champion
is re-scored on and the performance estimator is fitted on. The registered challenger's own
score on its holdout rows is kept too (`holdout_metrics`, logged as `holdout_*`): it is what
`reproduce` rebuilds. A challenger that fails the integrity check or cannot load and
predict its stored example is not an error of the stage: it is the stage's finding, recorded
as `EvaluationReport.load_error`, which makes the blocking `promotable` check fail so the
champion gate never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mlops_pipelines import names

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.evaluation.backtest import Backtest, EvaluationRows, Fold
    from mlops_pipelines.lib.evaluation.holdout import Evaluation, FeatureImportance, KpiResult
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.lib.ports import ReportFiles, TableStore
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.lib.training.artifact import ModelArtifact
    from mlops_pipelines.spec import ProjectSpec

MODEL_CARDS = "model_cards"  # the report kind model cards are filed under
IMPORTANCE_ROWS = 2000
IMPORTANCE_REPEATS = 3


@dataclass(frozen=True)
class EvaluationReport:
    """What the evaluation found about one registered version (the model it names)."""

    version: str
    run_id: str
    artifact_sha256: str
    evaluation: Evaluation | None  # pooled rolling-origin predictions; None when the model did not load
    kpis: tuple[KpiResult, ...]  # on the pooled evaluation
    model_card_path: str | None  # the Markdown card; None when the model did not load
    load_error: str | None  # "ErrorType: message" when the model failed to load, else None
    partitions: tuple[str, ...] = ()  # the evaluated partitions, oldest first
    folds: tuple[Fold, ...] = ()
    features_version: int | None = None  # the features table version the rows were read at
    # The registered challenger alone on its holdout rows (what `reproduce` rebuilds).
    holdout_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def promotable(self) -> bool:
        return self.load_error is None and self.evaluation is not None

    def mismatch(self, model: ModelArtifact) -> str | None:
        """How this report is not about `model` (version, run or artifact differ), or None."""
        ours = (self.version, self.run_id, self.artifact_sha256)
        theirs = (model.version, model.run_id, model.artifact_sha256)
        if ours == theirs:
            return None
        return (
            f"the evaluation is of version {self.version} (run {self.run_id}, artifact "
            f"{self.artifact_sha256[:12]}), the challenger is version {model.version} (run {model.run_id}, "
            f"artifact {model.artifact_sha256[:12]})"
        )


def score_version(
    spec: ProjectSpec, version: str, rows: EvaluationRows, tracking: TrackingConfig
) -> Predictions:
    """Registered `version` (integrity-checked) scored on the evaluation rows, in their order.

    The gate re-scores the serving champion with this, so both models face the same rows.
    """
    from mlops_pipelines.lib.metrics import predict
    from mlops_pipelines.lib.registry.model_loading import load_model

    pipeline = load_model(tracking, spec.name, version).model.get_raw_model()
    return predict(pipeline, rows.labelled.features, rows.labelled.target, spec)


def load_failure(tracking: TrackingConfig, project: str, version: str) -> str | None:
    """Why `version` cannot serve ("ErrorType: message"), or None when it verifies, loads and predicts."""
    from mlops_pipelines.lib.registry.model_loading import verify_loadable

    try:
        verify_loadable(tracking, project, version)
    except Exception as err:  # noqa: BLE001 - any load failure makes the challenger unpromotable; the report carries it
        return f"{type(err).__name__}: {err}"
    return None


def _importance(
    pipeline: object, backtest: Backtest, spec: ProjectSpec, holdout: tuple[str, ...]
) -> tuple[list[FeatureImportance], str | None]:
    """Permutation importance of the registered challenger on the first fold of its holdout
    (rows just after its window; an evaluation reaching further back starts in sample), or on
    its whole holdout when the primary metric has no value on that fold (ROC AUC on a fold of
    one class: a dry week); none, and why, when it has none on the holdout either."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from mlops_pipelines.lib.evaluation.holdout import permutation_importance_of

    fold = next(f for f in backtest.folds if f.partitions and f.partitions[0] >= holdout[0])
    labelled = backtest.rows.labelled
    rows = np.flatnonzero(backtest.rows.mask(fold.partitions))
    if not _scorable(labelled.target.iloc[rows], spec):
        rows = np.flatnonzero(backtest.rows.mask(holdout))
    if not len(rows):
        return [], None
    present = sorted({str(v) for v in labelled.target.iloc[rows]})
    if not _scorable(labelled.target.iloc[rows], spec):
        return [], (
            f"permutation importance not computed: {spec.training.primary_metric} has no value on the "
            f"holdout's {len(rows)} row(s), which hold only the class(es) {present}"
        )
    with threadpool_limits(limits=1):
        found = permutation_importance_of(
            pipeline,
            labelled.features.iloc[rows],
            labelled.target.iloc[rows],
            spec,
            IMPORTANCE_ROWS,
            IMPORTANCE_REPEATS,
        )
    return found, None


def _scorable(target: pd.Series, spec: ProjectSpec) -> bool:
    """Whether the primary metric has a value on rows with these labels: ROC AUC needs two
    classes there (`metrics`)."""
    return spec.training.primary_metric != "roc_auc" or target.astype("str").nunique() >= 2


def evaluate_challenger(
    spec: ProjectSpec,
    model: ModelArtifact,
    tables: TableStore,
    tracking: TrackingConfig,
    reports: ReportFiles,
) -> EvaluationReport:
    """Rolling-origin metrics, slices, fairness, importance, KPIs and a model card for `model`,
    logged to its MLflow run; a model that does not load gives a report with `load_error` only."""
    from dataclasses import asdict

    from mlops_pipelines.lib.evaluation.backtest import evaluation_of, rolling_origin
    from mlops_pipelines.lib.evaluation.holdout import check_kpis
    from mlops_pipelines.lib.evaluation.model_card import model_card
    from mlops_pipelines.lib.evaluation.plots import render_plots
    from mlops_pipelines.lib.metrics import compute_metrics
    from mlops_pipelines.lib.registry.model_loading import load_model
    from mlops_pipelines.lib.registry.tracking import log_evaluation

    failure = load_failure(tracking, spec.name, model.version)
    if failure is not None:
        return EvaluationReport(
            model.version, model.run_id, model.artifact_sha256, None, (), None, load_error=failure
        )
    pipeline = load_model(tracking, spec.name, model.version).model.get_raw_model()
    backtest = rolling_origin(spec, model, pipeline, tables)
    importance, skipped = _importance(pipeline, backtest, spec, model.window.holdout)
    result = evaluation_of(backtest.predictions, backtest.rows, spec, importance)
    if skipped is not None:
        result = replace(result, notes=[*result.notes, skipped])
    # The registered challenger alone, on its holdout: an evaluation reaching further back
    # (small partitions) overlaps its training window, where it would be scored in sample.
    holdout = backtest.rows.mask(model.window.holdout)
    alone, _ = compute_metrics(backtest.challenger.subset(holdout), spec.task)
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
        metrics={
            **{f"{names.META_HOLDOUT_PREFIX}{k}": float(v) for k, v in alone.items()},
            **{f"{names.META_POOLED_PREFIX}{k}": float(v) for k, v in result.metrics.items()},
        },
        figures=render_plots(result),
        json_artifacts={
            "evaluation": result.to_dict(),
            "model_card": card.data,
            "folds": [asdict(f) for f in backtest.folds],
        },
    )
    return EvaluationReport(
        version=model.version,
        run_id=model.run_id,
        artifact_sha256=model.artifact_sha256,
        evaluation=result,
        kpis=tuple(kpis),
        model_card_path=str(card_md),
        load_error=None,
        partitions=model.window.evaluated,
        folds=backtest.folds,
        features_version=model.features_version,
        holdout_metrics=dict(alone),
    )
