"""Request validation built from the project spec: strict types, bounds, categories and nulls.

The row type is a pydantic TypedDict generated per spec and validated straight from the raw
JSON bytes (pydantic-core parses and validates in one pass, no intermediate objects). Errors
name the row index, the column and the problem; they never echo the schema or a stack trace.

Body forms: `{"rows": [{...}, ...]}` for a batch, or `{"row": {...}}` for one row; the
response always carries a list of predictions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired, Required

import typing_extensions
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from mlops_pipelines.spec import ColumnSpec, ProjectSpec

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Dates the lake's nanosecond timestamps can hold (pandas' range is 1677-09-21 .. 2262-04-11).
EARLIEST, LATEST = dt.datetime(1678, 1, 1), dt.datetime(2261, 12, 31, 23, 59, 59)
MAX_REPORTED_PROBLEMS = 20
# pydantic needs typing_extensions' TypedDict before Python 3.12; called with a runtime name
# (one type per project), which static checkers only accept through an untyped alias.
_typed_dict: Any = typing_extensions.TypedDict
_ROW_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_BODY_SHAPE = "the body must be a JSON object with 'rows' (a list of rows) or 'row' (one row)"
_PROBLEM_TEXT = {
    "missing": "missing required column",
    "extra_forbidden": "unknown column (not in the project's schema)",
    "dict_type": "a row must be a JSON object",
    "list_type": "'rows' must be a JSON list of row objects",
}


@dataclass(frozen=True)
class RowProblem:
    row: int | None
    column: str | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "problem": self.problem}


@dataclass(frozen=True)
class RequestError(Exception):
    """A request the service refuses; maps to one HTTP status and a JSON error body."""

    status: int
    code: str
    message: str
    problems: tuple[RowProblem, ...] = field(default=())
    total_problems: int = 0
    retry_after: int | None = None  # seconds, sent as Retry-After (503: overloaded or not ready)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _category_check(name: str, categories: list[str]) -> Callable[[str | None], str | None]:
    known = frozenset(categories)

    def check(value: str | None) -> str | None:
        if value is not None and value not in known:
            raise PydanticCustomError(
                "unseen_category",
                "unseen category {value} (not one of the {count} categories of '{column}')",
                {"value": _short(value), "count": len(known), "column": name},
            )
        return value

    return check


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (10.0) is the integer it equals: JSON Schema says so, and
    clients that write every number as a double send it. 1.5, strings and booleans still fail."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _in_timestamp_range(value: dt.datetime) -> dt.datetime:
    naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if not EARLIEST <= naive <= LATEST:
        raise PydanticCustomError(
            "datetime_range",
            "datetime must lie between {low} and {high}",
            {"low": str(EARLIEST), "high": str(LATEST)},
        )
    return value


def _column_type(name: str, column: ColumnSpec) -> Any:
    """The strict pydantic annotation of one column's value (without nullability)."""
    if column.dtype == "int":
        low = INT64_MIN if column.min is None else max(INT64_MIN, column.min)
        high = INT64_MAX if column.max is None else min(INT64_MAX, column.max)
        return Annotated[int, Field(strict=True, ge=low, le=high), BeforeValidator(_integral)]
    if column.dtype == "float":
        # Strict float still takes a JSON integer (2 for 2.0); NaN and infinities are refused.
        return Annotated[float, Field(strict=True, ge=column.min, le=column.max, allow_inf_nan=False)]
    if column.dtype == "bool":
        return Annotated[bool, Field(strict=True)]
    if column.dtype == "date":
        return Annotated[dt.date, Field(strict=True, ge=EARLIEST.date(), le=LATEST.date())]
    if column.dtype == "datetime":
        return Annotated[dt.datetime, Field(strict=True), AfterValidator(_in_timestamp_range)]
    if column.categories is not None and column.unseen == "reject":
        extra: dict[str, Any] = {"enum": list(column.categories)}
        return Annotated[
            str,
            Field(strict=True, json_schema_extra=extra),
            AfterValidator(_category_check(name, column.categories)),
        ]
    return Annotated[str, Field(strict=True)]


def required_columns(spec: ProjectSpec) -> list[str]:
    """Columns a request must carry: the model's inputs, and the time column features may use."""
    needed = set(spec.feature_columns)
    if spec.time.column:
        needed.add(spec.time.column)
    return [c for c in spec.columns if c in needed]


def build_row_type(spec: ProjectSpec) -> type:
    """A TypedDict of every spec column: required ones as declared, the rest optional and nullable."""
    required = set(required_columns(spec))
    fields: dict[str, Any] = {}
    for name, column in spec.columns.items():
        kind = _column_type(name, column)
        if name in required and not column.nullable:
            fields[name] = Required[kind]
        else:
            # A nullable or non-input column may be null or left out (it reads as null).
            fields[name] = NotRequired[kind | None]
    row = _typed_dict(f"{spec.name.title().replace('_', '')}Row", fields)
    row.__pydantic_config__ = _ROW_CONFIG
    return row


def _problem(error: Any) -> RowProblem:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    text = _PROBLEM_TEXT.get(kind, error.get("msg", "invalid value"))
    if not loc:
        return RowProblem(None, None, _BODY_SHAPE)
    if loc and loc[0] == "rows" and len(loc) >= 2 and isinstance(loc[1], int):
        return RowProblem(loc[1], str(loc[2]) if len(loc) > 2 else None, text)
    if loc and loc[0] == "row":
        return RowProblem(0, str(loc[1]) if len(loc) > 1 else None, text)
    if loc and kind == "extra_forbidden":
        return RowProblem(
            None, None, f"unknown field {_short(loc[0])}: send 'rows' (a list) or 'row' (one object)"
        )
    if kind in _PROBLEM_TEXT:
        return RowProblem(None, None, text)
    return RowProblem(None, None, _BODY_SHAPE)


@dataclass(frozen=True)
class RequestSchema:
    """Parses and validates predict bodies for one project."""

    spec: ProjectSpec
    max_rows: int
    row_type: type
    adapter: TypeAdapter[Any]
    columns: tuple[str, ...]  # every column a row may carry, in spec order

    def parse(self, body: bytes) -> list[dict[str, Any]]:
        """The validated rows (dicts of Python values); raises RequestError."""
        try:
            data = self.adapter.validate_json(body)
        except ValidationError as err:
            raise self._refusal(err) from None
        rows, row = data.get("rows"), data.get("row")
        if rows is not None and row is not None:
            raise RequestError(422, "validation_error", "send either 'rows' or 'row', not both")
        if row is not None:
            return [row]
        if rows is None:
            raise RequestError(422, "validation_error", _BODY_SHAPE)
        if not rows:
            raise RequestError(422, "validation_error", "'rows' is empty: send at least one row")
        return list(rows)

    def _refusal(self, err: ValidationError) -> RequestError:
        errors = err.errors(include_url=False, include_input=False, include_context=False)
        for item in errors:
            if item["type"] == "json_invalid":
                return RequestError(400, "malformed_json", f"the body is not valid JSON: {item['msg']}")
            if item["type"] == "too_long" and tuple(item["loc"]) == ("rows",):
                return RequestError(413, "too_many_rows", f"a request may carry at most {self.max_rows} rows")
        problems = tuple(_problem(item) for item in errors[:MAX_REPORTED_PROBLEMS])
        summary = f"{len(errors)} problem(s) in the request"
        if len(errors) > MAX_REPORTED_PROBLEMS:
            summary += f"; the first {MAX_REPORTED_PROBLEMS} are listed"
        return RequestError(422, "validation_error", summary, problems, len(errors))

    def json_schema(self) -> dict[str, Any]:
        """The request body's JSON schema with its definitions under OpenAPI components."""
        return self.adapter.json_schema(ref_template="#/components/schemas/{model}")


class ClassPrediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    """The answer (documentation only: the endpoint serialises plain dicts, faster)."""

    request_id: str
    route: Literal["champion", "canary", "mixed"]
    model_version: str | None = Field(description="null when route is 'mixed'; see model_versions")
    predictions: list[float] | list[ClassPrediction] = Field(description="one per row, in row order")
    routes: list[Literal["champion", "canary"]] | None = Field(None, description="per row, when mixed")
    model_versions: list[str] | None = Field(None, description="per row, when mixed")


class ReadyBody(BaseModel):
    status: Literal["ready", "degraded", "not_ready", "failed"]
    champion: str | None
    challenger: str | None
    reasons: list[str] = Field(description="why not ready or degraded; names versions and workers only")


class ProblemBody(BaseModel):
    row: int | None
    column: str | None
    problem: str


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable code, e.g. validation_error")
    message: str
    request_id: str
    problems: list[ProblemBody] | None = Field(None, description="at most 20, for 422")
    total_problems: int | None = None


def build_request_schema(spec: ProjectSpec, max_rows: int | None = None) -> RequestSchema:
    limit = max_rows or spec.serving.max_batch_rows
    row = build_row_type(spec)
    fields = {"rows": NotRequired[Annotated[list[row], Field(max_length=limit)]], "row": NotRequired[row]}  # type: ignore[valid-type]
    request = _typed_dict(f"{spec.name.title().replace('_', '')}PredictRequest", fields)
    request.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)
    return RequestSchema(spec, limit, row, TypeAdapter(request), tuple(spec.columns))
