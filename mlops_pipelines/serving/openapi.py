"""The service's OpenAPI document: the spec-derived request body, described exactly.

Validation (schemas.RequestSchema) takes `{"row": {...}}` or `{"rows": [...]}` with at least
one row, and dates the lake's timestamps can hold. The document says just that, so a client
generated from it (or schemathesis, in CI) never sends a body the schema admits and the
service refuses: `{}` and `{"rows": []}` are outside the schema, as are years out of range.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlops_pipelines.serving.schemas import RequestSchema

# Years the lake's nanosecond timestamps hold (schemas.EARLIEST .. LATEST): 1678 .. 2261 for
# dates; datetimes one year narrower at each end, so no UTC offset can carry them outside.
_DATE_YEARS = r"^(167[89]|16[89]\d|1[7-9]\d\d|2[01]\d\d|22[0-5]\d|226[01])-"
_DATETIME_YEARS = r"^(1679|16[89]\d|1[7-9]\d\d|2[01]\d\d|22[0-5]\d|2260)-"


def _bounded_dates(node: Any) -> None:
    """Add the year pattern to every date and date-time string schema under `node`, in place."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") in ("date", "date-time"):
            node["pattern"] = _DATE_YEARS if node["format"] == "date" else _DATETIME_YEARS
        for value in node.values():
            _bounded_dates(value)
    elif isinstance(node, list):
        for value in node:
            _bounded_dates(value)


def request_body_schema(schema: RequestSchema) -> tuple[dict[str, Any], dict[str, Any]]:
    """(body schema, component definitions): exactly one of `row` or a non-empty `rows`."""
    raw = copy.deepcopy(schema.json_schema())
    definitions = raw.pop("$defs", {})
    _bounded_dates(definitions)
    properties = raw["properties"]
    one_row = {
        "type": "object",
        "title": "One row",
        "properties": {"row": properties["row"]},
        "required": ["row"],
        "additionalProperties": False,
    }
    batch = {
        "type": "object",
        "title": "A batch of rows",
        "properties": {"rows": {**properties["rows"], "minItems": 1}},
        "required": ["rows"],
        "additionalProperties": False,
    }
    return {"title": raw.get("title", "PredictRequest"), "oneOf": [one_row, batch]}, definitions


def install_openapi(app: FastAPI, schema: RequestSchema) -> None:
    """OpenAPI with the spec-derived request body (its definitions under components)."""
    body_schema, definitions = request_body_schema(schema)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        body = doc["paths"]["/v1/predict"]["post"].setdefault("requestBody", {"required": True})
        body["content"] = {"application/json": {"schema": body_schema}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
