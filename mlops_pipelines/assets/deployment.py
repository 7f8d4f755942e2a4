"""The deployment as Dagster sees it: what the HTTP service serves and what its canary guard decided.

The service records every guard decision (automatic rollback, promote-recommended after a
healthy baking period) as a JSON line under MLOPS_HOME/deployments/. The stage function
`lib.scoring.deployments.deployment_state` reads that record and the registry aliases; this
asset turns them into metadata, so deployment history sits in the lineage next to the
promotion that produced the champion. It never moves an alias itself: only the promotion
gate does. A value that is not there (an alias not set, no decision yet) is None. The alias
timeline (the newest audit entries: who moved which alias from which version to which, why and
when) and the promotions waiting for approval are read from the audit trail and the registry.
"""

from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.resources import MlflowTracking
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.audit import AuditEntry
    from mlops_pipelines.lib.scoring.deployments import DeploymentState


def deployment_metadata(state: "DeploymentState") -> dict[str, Any]:
    from mlops_pipelines.lib.scoring.deployments import PROMOTE_RECOMMENDED, ROLLBACK

    last = state.last
    history = [
        {
            "at": e.at,
            "decision": e.decision,
            "challenger": e.challenger_version,
            "share": e.canary_share,
            "reason": e.reason,
        }
        for e in state.history
    ]
    return {
        names.META_CHAMPION_VERSION: state.champion_version,
        names.META_CHALLENGER_VERSION: state.challenger_version,
        names.META_PREVIOUS_CHAMPION_VERSION: state.previous_champion_version,
        names.META_CANARY_SHARE: state.configured_canary_share,
        names.META_SHADOW: state.shadow,
        names.META_DECISIONS: len(state.decisions),
        names.META_ROLLBACKS: state.count(ROLLBACK),
        names.META_PROMOTE_RECOMMENDED: state.count(PROMOTE_RECOMMENDED),
        names.META_LAST_DECISION: None if last is None else last.decision,
        names.META_LAST_REASON: None if last is None else last.reason,
        names.META_HISTORY: md_table(history),
    }


def audit_metadata(entries: "list[AuditEntry]", pending: list[str]) -> dict[str, Any]:
    from mlops_pipelines.lib.registry.history import timeline_rows

    return {
        names.META_ALIAS_TIMELINE: md_table(timeline_rows(entries)),
        names.META_AUDIT_ENTRIES: len(entries),
        names.META_PENDING_APPROVALS: ", ".join(pending) or None,
    }


def build_deployment_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, names.DEPLOYMENT),
        group_name=spec.name,
        deps=[asset_key(spec, names.CHAMPION)],
        kinds={"fastapi"},
        description=(
            "Serving state: champion/challenger versions, canary share, the guard's recorded decisions, "
            "and the alias timeline from the audit trail (who moved which alias, when and why)."
        ),
    )
    def deployment(tracking: MlflowTracking) -> dg.MaterializeResult:
        from mlops_pipelines.lib.registry.approvals import pending_approvals
        from mlops_pipelines.lib.registry.audit import read_entries
        from mlops_pipelines.lib.scoring.deployments import deployment_state
        from mlops_pipelines.settings import load_settings

        cfg = tracking.config()
        state = deployment_state(spec, cfg, load_settings().home)
        pending = [ref.version for ref in pending_approvals(cfg, spec.name)]
        audit = audit_metadata(read_entries(cfg, spec.name), pending)
        return dg.MaterializeResult(metadata={**deployment_metadata(state), **audit})

    return deployment
