"""Champion/challenger promotion: the gate decides, the registry aliases move only on `promote`.

The challenger is the model produced upstream in this lineage; the champion is re-scored on
the same fresh holdout. The alias move is compare-and-set under a lock, and the asset runs in
a Dagster pool, so two promotions at once leave exactly one champion.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key
from mlops_pipelines.assets.evaluation import EvaluationArtifact
from mlops_pipelines.lib.training.window import ModelArtifact
from mlops_pipelines.resources import Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec

PROMOTION_POOL = "mlops_promotion"


def _champion_scores(
    spec: ProjectSpec, version: str, model: ModelArtifact, lakehouse: Lakehouse, cfg: Any
) -> Any:
    from mlops_pipelines.lib.evaluation.holdout import evaluate_model
    from mlops_pipelines.lib.promotion.gate import ModelScores
    from mlops_pipelines.lib.registry.model_loading import load_model
    from mlops_pipelines.lib.training.window import split_features

    loaded = load_model(cfg, spec.name, version)
    rows = lakehouse.read(
        spec.name, "features", keys=list(model.window.holdout), version=model.features_version
    )
    holdout = split_features(rows, spec)
    result = evaluate_model(
        loaded.model.get_raw_model(),
        holdout.features,
        holdout.target,
        spec,
        context=holdout.context,
        importance_rows=0,
    )
    return ModelScores(version, result)


def build_promotion_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, "champion"),
        group_name=spec.name,
        ins={
            "model": dg.AssetIn(asset_key(spec, "model")),
            "evaluation": dg.AssetIn(asset_key(spec, "evaluation")),
        },
        kinds={"mlflow"},
        pool=PROMOTION_POOL,
        description=(
            "Promotion decision: KPI floors, a paired bootstrap test on the primary metric against the champion "
            "on the same holdout, no slice or fairness regression beyond tolerance. Moves `champion` on success."
        ),
    )
    def champion(
        context: dg.AssetExecutionContext,
        model: ModelArtifact,
        evaluation: EvaluationArtifact,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
        reports: ReportStore,
    ) -> dg.Output[Any]:
        from mlops_pipelines.lib.promotion.gate import ModelScores, decide_promotion
        from mlops_pipelines.lib.registry.aliases import (
            get_alias,
            promote,
            record_rejection,
            retire_old_versions,
        )

        cfg = tracking.config()
        lock = tracking.lock_path(spec.name)
        current = get_alias(cfg, spec.name, "champion")
        champion_scores = None
        notes: list[str] = []
        if current is not None and current.version != model.version:
            try:
                champion_scores = _champion_scores(spec, current.version, model, lakehouse, cfg)
            except Exception as err:  # noqa: BLE001 - a champion that no longer loads cannot defend its title
                notes.append(
                    f"champion v{current.version} could not be re-scored ({type(err).__name__}: {err})"
                )
                context.log.warning(notes[-1])
        decision = decide_promotion(
            ModelScores(model.version, evaluation.evaluation),
            champion_scores,
            spec,
            decided_at=datetime.now(UTC),
        )
        if notes:
            decision = decision.model_copy(update={"reasons": [*decision.reasons, *notes]})
        if decision.verdict == "promote":
            promote(
                cfg,
                spec.name,
                model.version,
                decision.to_json(),
                lock,
                expected_champion=current.version if current else None,
            )
        else:
            record_rejection(cfg, spec.name, model.version, decision.to_json())
        retired = retire_old_versions(cfg, spec.name, spec.promotion.keep_versions, lock)
        record_path = reports.path(spec.name, "decisions", f"v{model.version}.json")
        record_path.write_text(decision.to_json(), encoding="utf-8")
        after = get_alias(cfg, spec.name, "champion")
        metadata: dict[str, Any] = {
            "verdict": decision.verdict,
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons) or "_none_"),
            "challenger_version": model.version,
            "champion_before": current.version if current else "none",
            "champion_after": after.version if after else "none",
            "metric": decision.metric,
            "challenger_score": decision.challenger_score,
            "champion_score": decision.champion_score,
            "ci_low": decision.ci_low,
            "ci_high": decision.ci_high,
            "retired_versions": ", ".join(retired) or "none",
            "decision_record": dg.MetadataValue.url(reports.link(record_path)),
            "reason_for_training": model.reason,
        }
        return dg.Output(decision, metadata={k: v for k, v in metadata.items() if v is not None})

    return champion
