"""Canary routing with sticky hashing, and the guard that rolls a bad canary back by itself.

An entity goes to the canary when the blake2b hash of its key falls under the canary share,
so the same entity keeps seeing the same model for as long as the share holds. The guard
watches the canary's recent errors and p99 latency: a breach sets the share to 0 and records
a 'rollback' decision; enough healthy requests record 'promote-recommended'. Decisions are
JSON lines in `<home>/deployments/<project>.jsonl`, which the lead's deployment asset reads
(the record's path and reader live in lib/scoring/deployments.py, imported here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlops_pipelines.lib.scoring import deployments
from mlops_pipelines.lib.scoring.deployments import Decision, read_decisions

log = logging.getLogger(__name__)
# serving.app takes the record's path from here; it lives with its reader in lib/scoring.
decisions_path = deployments.decisions_path

GuardState = Literal["inactive", "canary", "rolled-back", "promote-recommended"]
_HASH_SCALE = float(2**64)


def entity_bucket(project: str, entity: str) -> float:
    """A stable position in [0, 1) for an entity; the same on every process and restart."""
    digest = hashlib.blake2b(f"{project}\x00{entity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SCALE


@dataclass(frozen=True)
class GuardLimits:
    max_error_rate: float
    max_p99_ms: float
    baking_requests: int
    window: int = 200  # recent canary requests the error rate and p99 are computed over
    min_requests: int = 20  # no verdict on fewer requests than this


@dataclass(frozen=True)
class GuardSnapshot:
    state: GuardState
    share: float
    configured_share: float
    challenger_version: str | None
    requests: int
    errors: int
    healthy: int
    window_requests: int
    window_error_rate: float
    window_p99_ms: float | None
    last_decision: dict[str, Any] | None


class CanaryRouter:
    """Decides per row whether the canary answers, and guards the canary."""

    def __init__(self, project: str, share: float, limits: GuardLimits, decisions_path: Path) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"canary share must be within [0, 1], got {share}")
        self.project = project
        self.configured_share = share
        self.limits = limits
        self.decisions_path = decisions_path
        self._lock = threading.Lock()
        self._share = 0.0
        self._state: GuardState = "inactive"
        self._challenger: str | None = None
        self._window: deque[tuple[bool, float]] = deque(maxlen=limits.window)
        self._requests = self._errors = self._healthy = 0
        self._last_decision: dict[str, Any] | None = None

    @property
    def share(self) -> float:
        return self._share

    def canary_rows(self, entities: list[str]) -> list[bool] | None:
        """Per row: does the canary answer? None when no row goes to the canary."""
        share = self._share
        if share <= 0.0:
            return None
        mask = [entity_bucket(self.project, e) < share for e in entities]
        return mask if any(mask) else None

    def on_challenger(self, version: str | None) -> None:
        """A new (or no) challenger: fresh counters, and the configured share again."""
        with self._lock:
            if version == self._challenger:
                return
            self._challenger = version
            self._window.clear()
            self._requests = self._errors = self._healthy = 0
            self._last_decision = None
            if version is None or self.configured_share <= 0.0:
                self._state, self._share = "inactive", 0.0
            elif self._rolled_back_before(version):
                # A restart must not send traffic to a canary the guard already rejected.
                self._state, self._share = "rolled-back", 0.0
            else:
                self._state, self._share = "canary", self.configured_share

    def observe(self, ok: bool, latency_ms: float, champion_version: str | None) -> None:
        """Account one canary request; may roll back or recommend promotion."""
        with self._lock:
            if self._state not in ("canary", "promote-recommended"):
                return
            self._requests += 1
            self._errors += 0 if ok else 1
            self._healthy += 1 if ok else 0
            self._window.append((ok, latency_ms))
            if len(self._window) < self.limits.min_requests:
                return
            error_rate, p99 = self._window_stats()
            numbers = self._numbers(error_rate, p99)
            if error_rate > self.limits.max_error_rate:
                reason = f"canary error rate {error_rate:.3f} > {self.limits.max_error_rate}"
                self._rollback(reason, numbers, champion_version)
            elif p99 is not None and p99 > self.limits.max_p99_ms:
                reason = f"canary p99 latency {p99:.1f} ms > {self.limits.max_p99_ms} ms"
                self._rollback(reason, numbers, champion_version)
            elif self._state == "canary" and self._healthy >= self.limits.baking_requests:
                self._state = "promote-recommended"
                reason = (
                    f"{self._healthy} healthy canary requests (baking_requests {self.limits.baking_requests})"
                )
                self._record("promote-recommended", reason, numbers, champion_version)

    def observe_quality(
        self,
        metric: str,
        champion_value: float,
        canary_value: float,
        higher_is_better: bool,
        tolerance: float = 0.0,
    ) -> bool:
        """Hook for delayed labels: roll back when the canary is worse by more than `tolerance`.

        Returns True when it rolled back.
        """
        gap = (champion_value - canary_value) if higher_is_better else (canary_value - champion_value)
        with self._lock:
            if self._state not in ("canary", "promote-recommended") or gap <= tolerance:
                return False
            numbers = {
                "metric": metric,
                "champion": champion_value,
                "canary": canary_value,
                "tolerance": tolerance,
            }
            self._rollback(f"canary {metric} worse than champion by {gap:.4g}", numbers, None)
            return True

    def _window_stats(self) -> tuple[float, float | None]:
        errors = sum(1 for ok, _ in self._window if not ok)
        latencies = [ms for _, ms in self._window]
        p99 = float(np.percentile(latencies, 99)) if latencies else None
        return errors / len(self._window), p99

    def _numbers(self, error_rate: float, p99: float | None) -> dict[str, Any]:
        return {
            "requests": self._requests,
            "errors": self._errors,
            "healthy": self._healthy,
            "window_requests": len(self._window),
            "window_error_rate": round(error_rate, 6),
            "window_p99_ms": None if p99 is None else round(p99, 3),
            "max_error_rate": self.limits.max_error_rate,
            "max_p99_ms": self.limits.max_p99_ms,
            "baking_requests": self.limits.baking_requests,
        }

    def _rollback(self, reason: str, numbers: dict[str, Any], champion_version: str | None) -> None:
        self._state, previous, self._share = "rolled-back", self._share, 0.0
        numbers = {**numbers, "share_before": previous}
        log.warning("%s: canary %s rolled back: %s", self.project, self._challenger, reason)
        self._record("rollback", reason, numbers, champion_version)

    def _record(self, decision: Decision, reason: str, numbers: dict[str, Any], champion: str | None) -> None:
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "project": self.project,
            "decision": decision,
            "reason": reason,
            "champion_version": champion,
            "challenger_version": self._challenger,
            "canary_share": self._share,
            "numbers": numbers,
        }
        self._last_decision = entry
        self.decisions_path.parent.mkdir(parents=True, exist_ok=True)
        with self.decisions_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def _rolled_back_before(self, version: str) -> bool:
        return any(
            e.get("decision") == "rollback" and e.get("challenger_version") == version
            for e in read_decisions(self.decisions_path)
        )

    def snapshot(self) -> GuardSnapshot:
        with self._lock:
            error_rate, p99 = self._window_stats() if self._window else (0.0, None)
            return GuardSnapshot(
                state=self._state,
                share=self._share,
                configured_share=self.configured_share,
                challenger_version=self._challenger,
                requests=self._requests,
                errors=self._errors,
                healthy=self._healthy,
                window_requests=len(self._window),
                window_error_rate=error_rate,
                window_p99_ms=p99,
                last_decision=self._last_decision,
            )

    def snapshot_dict(self) -> dict[str, Any]:
        return asdict(self.snapshot())
