"""HTTP plumbing below the endpoints: request ids, bearer auth, body limits and error bodies."""

from __future__ import annotations

import hmac
import re
import uuid
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from starlette.responses import Response

from mlops_pipelines.serving.schemas import RequestError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
OPEN_PATHS = frozenset({"/healthz"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(body), status_code=status, media_type="application/json", headers=headers)


def error_response(err: RequestError, request_id: str) -> Response:
    body: dict[str, Any] = {"error": err.code, "message": err.message, "request_id": request_id}
    if err.problems:
        body["problems"] = [p.as_dict() for p in err.problems]
        body["total_problems"] = err.total_problems
    headers = {"www-authenticate": "Bearer"} if err.status == 401 else None
    return json_response(body, err.status, headers)


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SAFE_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


class RequestContext:
    """Pure ASGI middleware: a request id on every response and optional bearer-token auth."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None

    def _authorized(self, scope: Scope) -> bool:
        if self._token is None or scope["path"] in OPEN_PATHS:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        if not self._authorized(scope):
            refusal = RequestError(401, "unauthorized", "a valid bearer token is required")
            await error_response(refusal, request_id)(scope, receive, send_with_id)
            return
        await self.app(scope, receive, send_with_id)


def check_json_content_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        shown = media or "none"
        raise RequestError(415, "unsupported_media_type", f"send the body as application/json (got {shown})")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    too_large = RequestError(413, "body_too_large", f"the body exceeds {limit} bytes")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "bad_content_length", "the Content-Length header is not a number")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
