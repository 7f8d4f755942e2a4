"""Evaluation of the model produced upstream: rolling-origin over its evaluation partitions; the card.

The work is `lib.evaluation.stage.evaluate_challenger`; this wires it and turns its report
into metadata (pooled out-of-sample metrics, the folds, the evaluated partitions, and the
registered challenger's own holdout metrics) and the blocking `promotable` check.
"""

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, md_table, retry_on_outage
from mlops_pipelines.lib.evaluation.stage import EvaluationReport
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec


def evaluation_metadata(report: EvaluationReport, card_link: str | None) -> dict[str, Any]:
    evaluation = report.evaluation
    if evaluation is None or card_link is None:
        return {names.META_MODEL_VERSION: report.version, names.META_LOAD_ERROR: report.load_error}
    kpis = [
        {"metric": k.metric, "value": k.value, "floor": k.floor, "ceiling": k.ceiling, "passed": k.passed}
        for k in report.kpis
    ]
    slices = [
        {"column": s.column, "value": s.value, "n": s.n, **{m: round(v, 4) for m, v in s.metrics.items()}}
        for s in evaluation.slices
    ]
    importance = [
        {"feature": i.feature, "mean": round(i.mean, 5), "std": round(i.std, 5)}
        for i in evaluation.importance[:15]
    ]
    folds = [
        {
            "partitions": f"{f.partitions[0]}..{f.partitions[-1]}",
            "rows": f.rows,
            "model": f.model,
            "trained_on": f"{f.train[0]}..{f.train[-1]} ({len(f.train)})" if f.train else None,
        }
        for f in report.folds
    ]
    metadata: dict[str, Any] = {
        names.META_MODEL_VERSION: report.version,
        names.META_HOLDOUT_ROWS: evaluation.n_rows,
        **{f"{names.META_HOLDOUT_PREFIX}{k}": float(v) for k, v in report.holdout_metrics.items()},
        names.META_POOLED_ROWS: evaluation.n_rows,
        **{f"{names.META_POOLED_PREFIX}{k}": float(v) for k, v in evaluation.metrics.items()},
        names.META_EVALUATED_PARTITIONS: ", ".join(report.partitions),
        names.META_FOLDS: md_table(folds),
        names.META_KPIS: md_table(kpis),
        names.META_SLICES: md_table(slices, limit=30),
        names.META_IMPORTANCE: md_table(importance),
        names.META_MODEL_CARD: dg.MetadataValue.url(card_link),
    }
    if evaluation.fairness is not None:
        metadata[names.META_FAIRNESS] = dg.MetadataValue.json(asdict(evaluation.fairness))
    return metadata


def promotable_check(report: EvaluationReport) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {names.META_MODEL_VERSION: report.version}
    if report.promotable:
        metadata[names.META_ARTIFACT_SHA] = report.artifact_sha256
    return dg.AssetCheckResult(
        check_name=names.PROMOTABLE_CHECK,
        passed=report.promotable,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.load_error,
        metadata=metadata,
    )


def build_evaluation_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, names.EVALUATION)

    @dg.asset(
        key=key,
        group_name=spec.name,
        ins={names.MODEL: dg.AssetIn(asset_key(spec, names.MODEL))},
        kinds={"scikitlearn", "mlflow"},
        op_tags={names.CELERY_QUEUE_TAG: names.TRAIN_QUEUE},  # the big-memory queue (Celery only)
        description=(
            "Rolling-origin evaluation of the model upstream (each fold predicted by a model as fresh as the one "
            "that will serve): pooled out-of-sample metrics, slices, fairness, importance and a model card."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                names.PROMOTABLE_CHECK,
                asset=key,
                blocking=True,
                description="The challenger loads with mlflow.pyfunc (artifact hash verified) and scores the holdout.",
            )
        ],
    )
    def evaluation(
        context: dg.AssetExecutionContext,
        model: ModelArtifact,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
        reports: ReportStore,
    ) -> Iterator[dg.Output[EvaluationReport] | dg.AssetCheckResult]:
        from mlops_pipelines.lib.evaluation.stage import evaluate_challenger

        with retry_on_outage(context):
            report = evaluate_challenger(spec, model, lakehouse, tracking.config(), reports)
        card = None if report.model_card_path is None else reports.link(Path(report.model_card_path))
        yield dg.Output(report, metadata=evaluation_metadata(report, card))
        yield promotable_check(report)

    return evaluation
