"""The `champion` asset: the serving champion after every gate decision and every rollback.

Its value is a `ChampionRef` that scoring, drift and performance take as input. After a
retrain it runs the gate (`lib.promotion.stage`): non-inferiority against the champion on the
same out-of-sample rows, KPIs judged against the champion, no confident slice or fairness
regression; on promote the winner is refit on the whole window and that version goes live
with its performance estimator. The aliases move only on `promote`, compare-and-set under a
lock, and the asset runs in a Dagster pool, so two promotions at once leave exactly one
champion. A champion that cannot be re-scored alerts and fails the step (fail closed). The
rollback job materializes it with `action: rollback` under the same lock.
"""

from typing import Any, Literal

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, retry_on_outage
from mlops_pipelines.lib.evaluation.stage import EvaluationReport
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.promotion.stage import ChampionUpdate
from mlops_pipelines.lib.training.artifact import ModelArtifact
from mlops_pipelines.resources import AlertSink, Lakehouse, MlflowTracking, ReportStore
from mlops_pipelines.spec import ProjectSpec


class ChampionConfig(dg.Config):
    """gate: judge the challenger upstream (after a retrain); rollback: back to previous-champion,
    or to `to_version` several steps back; approve / reject: a person's verdict on `version`,
    waiting for approval (projects with promotion.approval.required)."""

    action: Literal["gate", "rollback", "approve", "reject"] = "gate"
    to_version: str | None = None
    version: str | None = None
    requested_by: str | None = None  # the person asking; recorded with the run id in the audit trail
    reason: str | None = None


def champion_metadata(update: ChampionUpdate, link: Any) -> dict[str, Any]:
    """The decision (for a gate) and the ChampionRef fields; None where there is no value."""
    ref = update.champion
    metadata: dict[str, Any] = {
        names.META_ACTION: update.action,
        names.META_CHAMPION_BEFORE: update.champion_before,
        names.META_CHAMPION_AFTER: ref.version,
        names.META_CHAMPION_VERSION: ref.version,
        names.META_CHAMPION_SOURCE: ref.source,
        names.META_CHAMPION_RUN_ID: ref.run_id,
        names.META_CHAMPION_SHA: ref.artifact_sha256,
        names.META_CHAMPION_FEATURES_VERSION: ref.features_version,
        names.META_CHAMPION_TRAIN_RANGE: None if ref.train_range is None else "..".join(ref.train_range),
        names.META_CHAMPION_AS_OF: ref.as_of,
        names.META_CHAMPION_METRIC: ref.metric,
        names.META_CHAMPION_EVALUATED_SCORE: ref.evaluated_score,
        names.META_CHAMPION_EVALUATED_ROWS: ref.evaluated_rows,
        names.META_CHAMPION_EVALUATED_NOISE: ref.evaluated_noise,
        names.META_CHAMPION_ESTIMATOR_URI: ref.estimator_uri,
        names.META_CHAMPION_ESTIMATOR_SHA: ref.estimator_sha256,
        names.META_DECIDED_AT: ref.decided_at,
    }
    outcome = update.outcome
    if outcome is None:
        return metadata
    decision = outcome.decision
    return {
        names.META_VERDICT: decision.verdict,
        names.META_REASONS: dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons) or "_none_"),
        names.META_CHALLENGER_VERSION: decision.challenger_version,
        names.META_EVALUATED_VERSION: decision.evaluated_version,
        names.META_REFIT_VERSION: decision.refit_version,
        **metadata,
        names.META_METRIC: decision.metric,
        names.META_CHALLENGER_SCORE: decision.challenger_score,
        names.META_CHAMPION_SCORE: decision.champion_score,
        names.META_IMPROVEMENT: decision.improvement,
        names.META_CI_LOW: decision.ci_low,
        names.META_CI_HIGH: decision.ci_high,
        names.META_MARGIN: decision.margin,
        names.META_MIN_IMPROVEMENT: decision.min_improvement,
        names.META_COMPARED_ROWS: decision.compared_rows,
        names.META_EVALUATED_PARTITIONS: ", ".join(decision.evaluated_partitions) or None,
        names.META_EXCLUDED_PARTITIONS: ", ".join(decision.excluded_partitions) or None,
        names.META_KPI_FLAGS: "; ".join(decision.kpi_flags) or None,
        names.META_NEEDS_ATTENTION: decision.needs_attention,
        names.META_RETIRED_VERSIONS: ", ".join(outcome.retired_versions) or None,
        names.META_DECISION_RECORD: link,
    }


def build_promotion_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    optional = {names.OPTIONAL_INPUT: True}  # a rollback needs neither; the gate checks both are there

    @dg.asset(
        key=asset_key(spec, names.CHAMPION),
        group_name=spec.name,
        ins={
            names.MODEL: dg.AssetIn(asset_key(spec, names.MODEL), metadata=optional),
            names.EVALUATION: dg.AssetIn(asset_key(spec, names.EVALUATION), metadata=optional),
        },
        kinds={"mlflow"},
        pool=names.PROMOTION_POOL,
        description=(
            "The serving champion. After a retrain: non-inferiority against the champion on the same "
            "out-of-sample rows (a paired bootstrap), KPIs judged against the champion, no confident slice or "
            "fairness regression; on success the winner is refit on the whole window and that version becomes "
            "`champion`. With action=rollback: champion <- previous-champion (or to_version); with "
            "action=approve/reject: a person's verdict on a promotion waiting for approval."
        ),
    )
    def champion(
        context: dg.AssetExecutionContext,
        config: ChampionConfig,
        model: ModelArtifact | None,
        evaluation: EvaluationReport | None,
        lakehouse: Lakehouse,
        tracking: MlflowTracking,
        reports: ReportStore,
        alerts: AlertSink,
    ) -> dg.Output[ChampionRef]:
        from pathlib import Path

        from mlops_pipelines.lib.promotion.manual import ChampionRequest
        from mlops_pipelines.lib.promotion.stage import champion_stage
        from mlops_pipelines.lib.training.artifact import RunContext

        with retry_on_outage(context):
            update = champion_stage(
                config.action,
                spec,
                model,
                evaluation,
                lakehouse,
                tracking.config(),
                tracking.lock_path(spec.name),
                reports,
                alerts=alerts,
                run_context=RunContext(context.run_id, context.asset_key.to_user_string()),
                request=ChampionRequest(
                    config.to_version, config.version, config.requested_by, config.reason
                ),
            )
        record = None if update.outcome is None else update.outcome.decision_record_path
        link = None if record is None else dg.MetadataValue.url(reports.link(Path(record)))
        metadata = champion_metadata(update, link)
        if model is not None and update.outcome is not None:
            metadata[names.META_REASON_FOR_TRAINING] = model.reason
        return dg.Output(update.champion, metadata=metadata)

    return champion
