"""The serving guard's decision record, and the deployment state the lineage shows.

The HTTP service's canary guard (serving/router.py) appends one JSON line per decision
(automatic rollback, promote-recommended after a healthy baking period) to
`<home>/deployments/<project>.jsonl`. Writing stays with the guard; reading lives here so the
`deployment` asset reads the record without importing the serving stack. `read_decisions`
returns the lines as written (the guard and its tests read them so); `read_decision_entries`
types them once for everything else.

The deployment state also names which versions hold the `champion`, `challenger` and
`previous-champion` aliases: the deployment asset exists to show serving's view next to the
promotion that produced it. It never moves an alias: only the promotion gate does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

Decision = Literal["rollback", "promote-recommended"]
ROLLBACK: Decision = "rollback"
PROMOTE_RECOMMENDED: Decision = "promote-recommended"
HISTORY_SHOWN = 20  # newest decisions the deployment asset lists


def decisions_path(home: Path, project: str) -> Path:
    return home / "deployments" / f"{project}.jsonl"


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """Every recorded decision as written, oldest first (empty when none was recorded)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class DecisionEntry:
    """One guard decision; a field the line does not carry is None."""

    at: str | None
    decision: str | None  # a Decision for every line the guard wrote
    reason: str | None
    challenger_version: str | None
    champion_version: str | None
    canary_share: float | None
    project: str | None = None
    numbers: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, line: Mapping[str, Any]) -> DecisionEntry:
        share = line.get("canary_share")
        return cls(
            at=_text(line.get("at")),
            decision=_text(line.get("decision")),
            reason=_text(line.get("reason")),
            challenger_version=_text(line.get("challenger_version")),
            champion_version=_text(line.get("champion_version")),
            canary_share=None if share is None else float(share),
            project=_text(line.get("project")),
            numbers=dict(line.get("numbers") or {}),
        )


def read_decision_entries(path: Path) -> tuple[DecisionEntry, ...]:
    return tuple(DecisionEntry.of(line) for line in read_decisions(path))


@dataclass(frozen=True)
class DeploymentState:
    """What serving runs and what its guard decided, for the deployment asset."""

    champion_version: str | None  # None: the alias is not set
    challenger_version: str | None
    previous_champion_version: str | None
    configured_canary_share: float
    shadow: bool
    decisions: tuple[DecisionEntry, ...]  # oldest first

    def count(self, decision: Decision) -> int:
        return sum(1 for e in self.decisions if e.decision == decision)

    @property
    def last(self) -> DecisionEntry | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def history(self) -> tuple[DecisionEntry, ...]:
        return self.decisions[-HISTORY_SHOWN:]


def deployment_state(spec: ProjectSpec, tracking: TrackingConfig, home: Path) -> DeploymentState:
    """The registry's serving aliases and the guard's decisions recorded under `home`."""
    from mlops_pipelines.lib.registry.aliases import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, aliases

    current = aliases(tracking, spec.name)
    return DeploymentState(
        champion_version=current.get(CHAMPION),
        challenger_version=current.get(CHALLENGER),
        previous_champion_version=current.get(PREVIOUS_CHAMPION),
        configured_canary_share=spec.serving.canary_share,
        shadow=spec.serving.shadow,
        decisions=read_decision_entries(decisions_path(home, spec.name)),
    )
