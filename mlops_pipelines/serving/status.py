"""What the service reports about itself: readiness, the deployment view and its OpenAPI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlops_pipelines.serving.holder import Alias, ModelHolder
    from mlops_pipelines.serving.service import PredictionService


def readiness(holder: ModelHolder) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /readyz: 200 once a champion serves ('degraded' after a failed
    load, still serving the last good model), else 503."""
    reasons = holder.degraded_reasons
    champion, challenger = holder.state("champion"), holder.state("challenger")
    ready = champion.model is not None
    status = "not_ready" if not ready else ("degraded" if reasons else "ready")
    body: dict[str, Any] = {
        "status": status,
        "champion": champion.model.version if champion.model else None,
        "challenger": challenger.model.version if challenger.model else None,
        "reasons": reasons or (["no champion model loaded yet"] if not ready else []),
    }
    return (200 if ready else 503), body


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
            "runtime_note": state.model.runtime.note if state.model else None,
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
        "prediction_log": {"uri": service.writer.uri, "rows_written": service.writer.rows_written},
        "last_poll": holder.last_poll.isoformat() if holder.last_poll else None,
    }


def install_openapi(app: FastAPI, request_schema: dict[str, Any]) -> None:
    """OpenAPI with the spec-derived request body (its definitions under components)."""
    definitions = request_schema.pop("$defs", {})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        body = doc["paths"]["/v1/predict"]["post"].setdefault("requestBody", {"required": True})
        body["content"] = {"application/json": {"schema": request_schema}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
