"""The deployment as Dagster sees it: what the HTTP service serves and what its canary guard decided.

The service records every guard decision (automatic rollback, promote-recommended after a
healthy baking period) as a JSON line under MLOPS_HOME/deployments/. This asset turns that
record and the registry aliases into metadata, so deployment history sits in the lineage
next to the promotion that produced the champion. It never moves an alias itself: only the
promotion gate does.
"""

from typing import Any

import dagster as dg

from mlops_pipelines.assets.common import asset_key, md_table
from mlops_pipelines.resources import MlflowTracking
from mlops_pipelines.spec import ProjectSpec


def build_deployment_asset(spec: ProjectSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=asset_key(spec, "deployment"),
        group_name=spec.name,
        deps=[asset_key(spec, "champion")],
        kinds={"fastapi"},
        description="Serving state: champion/challenger versions, canary share and the guard's recorded decisions.",
    )
    def deployment(context: dg.AssetExecutionContext, tracking: MlflowTracking) -> dg.MaterializeResult:
        from mlops_pipelines.lib.registry.aliases import aliases
        from mlops_pipelines.serving.router import decisions_path, read_decisions
        from mlops_pipelines.settings import load_settings

        current = aliases(tracking.config(), spec.name)
        decisions = read_decisions(decisions_path(load_settings().home, spec.name))
        counts: dict[str, int] = {}
        for entry in decisions:
            counts[entry["decision"]] = counts.get(entry["decision"], 0) + 1
        last: dict[str, Any] = decisions[-1] if decisions else {}
        return dg.MaterializeResult(
            metadata={
                "champion_version": current.get("champion", "none"),
                "challenger_version": current.get("challenger", "none"),
                "previous_champion_version": current.get("previous-champion", "none"),
                "configured_canary_share": spec.serving.canary_share,
                "shadow": spec.serving.shadow,
                "decisions": len(decisions),
                "rollbacks": counts.get("rollback", 0),
                "promote_recommended": counts.get("promote-recommended", 0),
                "last_decision": last.get("decision", "none"),
                "last_reason": last.get("reason", ""),
                "history": md_table(
                    [
                        {
                            "at": e.get("at"),
                            "decision": e.get("decision"),
                            "challenger": e.get("challenger_version"),
                            "share": e.get("canary_share"),
                            "reason": e.get("reason"),
                        }
                        for e in decisions[-20:]
                    ]
                ),
            }
        )

    return deployment
