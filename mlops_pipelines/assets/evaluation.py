"""Evaluation of the model produced upstream, on its time-based holdout; the model card."""

from dataclasses import asdict, dataclass
from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.lib.training.window import ModelArtifact
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class EvaluationArtifact:
    version: str
    evaluation: Any  # lib.evaluation.holdout.Evaluation (kept untyped here so loading Dagster stays cheap)
    kpis: list[Any]
    model_card_path: str
    loadable_error: str | None


def _metadata(spec: ProjectSpec, artifact: EvaluationArtifact, link: str) -> dict[str, Any]:
    evaluation = artifact.evaluation
    metadata: dict[str, Any] = {
        "model_version": artifact.version,
        "holdout_rows": evaluation.n_rows,
        **{f"holdout_{k}": float(v) for k, v in evaluation.metrics.items()},
        "kpis": md_table(
            [
                {
                    "metric": k.metric,
                    "value": k.value,
                    "floor": k.floor,
                    "ceiling": k.ceiling,
                    "passed": k.passed,
                }
                for k in artifact.kpis
            ]
        ),
        "slices": md_table(
            [
                {
                    "column": s.column,
                    "value": s.value,
                    "n": s.n,
                    **{m: round(v, 4) for m, v in s.metrics.items()},
                }
                for s in evaluation.slices
            ],
            limit=30,
        ),
        "importance": md_table(
            [
                {"feature": i.feature, "mean": round(i.mean, 5), "std": round(i.std, 5)}
                for i in evaluation.importance[:15]
            ]
        ),
        "model_card": dg.MetadataValue.url(link),
    }
    if evaluation.fairness is not None:
        metadata["fairness"] = dg.MetadataValue.json(asdict(evaluation.fairness))
    return metadata


def build_evaluation_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    key = asset_key(spec, "evaluation")

    @dg.asset(
        key=key,
        group_name=spec.name,
        ins={"model": dg.AssetIn(asset_key(spec, "model"))},
        kinds={"scikitlearn", "mlflow"},
        description="Holdout metrics, slices, fairness, permutation importance and a model card for the model upstream.",
        check_specs=[
            dg.AssetCheckSpec(
                "promotable",
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
    ):
        from mlops_pipelines.lib.evaluation.holdout import check_kpis, evaluate_model
        from mlops_pipelines.lib.evaluation.model_card import model_card
        from mlops_pipelines.lib.evaluation.plots import render_plots
        from mlops_pipelines.lib.registry.model_loading import load_model, verify_loadable
        from mlops_pipelines.lib.registry.tracking import log_evaluation
        from mlops_pipelines.lib.training.window import split_features

        cfg = tracking.config()
        loadable_error = None
        try:
            verify_loadable(cfg, spec.name, model.version)
        except Exception as err:  # noqa: BLE001 - any load failure makes the challenger unpromotable; reported below
            loadable_error = f"{type(err).__name__}: {err}"
        if loadable_error is not None:
            yield dg.Output(
                EvaluationArtifact(model.version, None, [], "", loadable_error),
                metadata={"model_version": model.version, "load_error": loadable_error},
            )
            yield dg.AssetCheckResult(
                check_name="promotable",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description=loadable_error,
                metadata={"model_version": model.version},
            )
            return
        loaded = load_model(cfg, spec.name, model.version)
        pipeline = loaded.model.get_raw_model()
        rows = lakehouse.read(
            spec.name, "features", keys=list(model.window.holdout), version=model.features_version
        )
        holdout = split_features(rows, spec)
        result = evaluate_model(pipeline, holdout.features, holdout.target, spec, context=holdout.context)
        kpis = check_kpis(result, spec)
        card = model_card(
            spec, result, lineage={**model.tags, "model_version": model.version, "run_id": model.run_id}
        )
        card_md = reports.path(spec.name, "model_cards", f"v{model.version}.md")
        card_md.write_text(card.markdown, encoding="utf-8")
        reports.path(spec.name, "model_cards", f"v{model.version}.json").write_text(
            card.json, encoding="utf-8"
        )
        log_evaluation(
            cfg,
            model.run_id,
            metrics={f"holdout_{k}": float(v) for k, v in result.metrics.items()},
            figures=render_plots(result),
            json_artifacts={"evaluation": result.to_dict(), "model_card": card.data},
        )
        artifact = EvaluationArtifact(model.version, result, kpis, str(card_md), loadable_error)
        yield dg.Output(artifact, metadata=_metadata(spec, artifact, reports.link(card_md)))
        yield dg.AssetCheckResult(
            check_name="promotable",
            passed=loadable_error is None,
            severity=dg.AssetCheckSeverity.ERROR,
            description=loadable_error,
            metadata={"model_version": model.version, "artifact_sha256": model.artifact_sha256},
        )

    return evaluation
