"""What the service reports about itself: readiness and the deployment view.

Nothing here may reach a client carrying an exception's text, a filesystem path or a store
URI: reasons name versions, workers and error types; free text passes `public_text`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_pipelines.serving.holder import Alias, ModelHolder
    from mlops_pipelines.serving.predlog import PredictionLogWriter
    from mlops_pipelines.serving.service import PredictionService
    from mlops_pipelines.serving.supervisor import WorkerProblem

_URI = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://\S*")
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/](?:[^\s'\"\\/]+[\\/])*[^\s'\",;)\]]*")


def public_text(text: str) -> str:
    """`text` with URIs and absolute paths replaced by placeholders."""
    return _PATH.sub("<path>", _URI.sub("<uri>", text))


def log_problem(writer: PredictionLogWriter) -> str | None:
    """Why the prediction log is not keeping up, in public words; None while it writes."""
    if writer.last_error_kind is None:
        return None
    return (
        f"prediction log: the last write failed ({writer.last_error_kind}); "
        f"{writer.pending_rows()} row(s) wait for the next attempt"
    )


def readiness(
    holder: ModelHolder, problems: Sequence[WorkerProblem] = (), log_note: str | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /readyz: 200 once a champion serves ('degraded' after a failed
    load, a restarted worker or a failing log write, still serving), 503 with no champion
    ('not_ready') or a worker the supervisor cannot bring back ('failed')."""
    reasons = [*holder.degraded_reasons, *(p.reason for p in problems), *([log_note] if log_note else [])]
    champion, challenger = holder.state("champion"), holder.state("challenger")
    loaded = champion.model is not None
    failed = any(p.fatal for p in problems)
    if not loaded:
        status = "not_ready"
    elif failed:
        status = "failed"
    else:
        status = "degraded" if reasons else "ready"
    body: dict[str, Any] = {
        "status": status,
        "champion": champion.model.version if champion.model else None,
        "challenger": challenger.model.version if challenger.model else None,
        "reasons": reasons or (["no champion model loaded yet"] if not loaded else []),
    }
    return (200 if loaded and not failed else 503), body


def deployment_view(service: PredictionService) -> dict[str, Any]:
    """GET /v1/deployment: models, routes, canary guard, shadow and log state."""
    holder = service.holder

    def model(alias: Alias) -> dict[str, Any] | None:
        state = holder.state(alias)
        if state.model is None and state.wanted is None:
            return None
        return {
            "version": state.model.version if state.model else None,
            "registry_version": state.wanted,
            "artifact_sha256": state.model.artifact_sha256 if state.model else None,
            "loaded_at": state.model.loaded_at.isoformat() if state.model else None,
            "runtime": state.model.runtime.name if state.model else None,
            "runtime_note": public_text(state.model.runtime.note) if state.model else None,
            "error": state.error,
        }

    shadow_on = service.shadow and holder.challenger is not None
    guard = service.router.snapshot_dict()
    return {
        "project": service.spec.name,
        "models": {"champion": model("champion"), "challenger": model("challenger")},
        "routes": {
            "champion": holder.champion.version if holder.champion else None,
            "canary": holder.challenger.version if holder.challenger and guard["share"] > 0 else None,
            "shadow": holder.challenger.version if shadow_on and holder.challenger else None,
        },
        "canary": guard,
        "shadow": {"enabled": service.shadow, "active": shadow_on, "pending": service.shadow_engine.pending},
        "prediction_log": {
            "rows_written": service.writer.rows_written,
            "rows_pending": service.writer.pending_rows(),
            "last_error": service.writer.last_error_kind,
        },
        "last_poll": holder.last_poll.isoformat() if holder.last_poll else None,
    }
