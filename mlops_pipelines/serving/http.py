"""HTTP plumbing below the endpoints: request ids, Host allow-list, bearer auth, body limits, error bodies."""

from __future__ import annotations

import hmac
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json
from starlette.responses import Response

from mlops_pipelines.serving.schemas import RequestError
from mlops_pipelines.settings import EnvironmentConfigError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
OPEN_PATHS = frozenset({"/healthz"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TOKEN_ENV = "MLOPS_SERVING_TOKEN"
ALLOWED_HOSTS_ENV = "MLOPS_SERVING_ALLOWED_HOSTS"
# A bearer token is the only secret between the service and its callers: 32 characters is
# 128 bits or more for hex and base64 tokens (`openssl rand -hex 16` makes one).
MIN_TOKEN_CHARS = 32


class ServingConfigError(EnvironmentConfigError):
    """A serving setting is unusable; the message names the setting and what it needs (the
    command line reports EnvironmentConfigErrors as one line, no traceback)."""


def read_token(environ: Mapping[str, str] | None = None) -> str | None:
    """MLOPS_SERVING_TOKEN, None when unset or empty; too short a token is refused, not weakened."""
    token = (os.environ if environ is None else environ).get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ServingConfigError(
            f"{TOKEN_ENV} has {len(token)} characters; it must have at least {MIN_TOKEN_CHARS} "
            "(for example the output of `openssl rand -hex 16`), or be unset for no authentication"
        )
    return token


def read_allowed_hosts(environ: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """MLOPS_SERVING_ALLOWED_HOSTS as host names (comma-separated, ports ignored); None: any Host."""
    raw = (os.environ if environ is None else environ).get(ALLOWED_HOSTS_ENV, "")
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    return hosts or None


def host_name(value: bytes) -> str:
    """The host of a Host header without its port: 'a.b:8080' -> 'a.b', '[::1]:80' -> '[::1]'."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(body), status_code=status, media_type="application/json", headers=headers)


def error_response(err: RequestError, request_id: str) -> Response:
    body: dict[str, Any] = {"error": err.code, "message": err.message, "request_id": request_id}
    if err.problems:
        body["problems"] = [p.as_dict() for p in err.problems]
        body["total_problems"] = err.total_problems
    headers = {"www-authenticate": "Bearer"} if err.status == 401 else {}
    if err.retry_after is not None:
        headers["retry-after"] = str(err.retry_after)
    return json_response(body, err.status, headers or None)


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
    """Pure ASGI middleware: a request id on every response, an optional Host allow-list
    (against DNS rebinding: a page on another site resolving its name to this loopback
    service) and optional bearer-token auth."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self._hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts else None

    def _host_allowed(self, scope: Scope) -> bool:
        if self._hosts is None or scope["path"] in OPEN_PATHS:
            return True
        for name, value in scope.get("headers", ()):
            if name == b"host":
                return host_name(value) in self._hosts
        return False

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

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        if not self._host_allowed(scope):
            refusal = RequestError(403, "host_not_allowed", "this Host is not served here")
            await error_response(refusal, request_id)(scope, receive, send_with_id)
            return
        if not self._authorized(scope):
            refusal = RequestError(401, "unauthorized", "a valid bearer token is required")
            await error_response(refusal, request_id)(scope, receive, send_with_id)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the request-id wrapper (Starlette's own 500 handler sits
            # outside every middleware); the error's text goes to the log only.
            log.exception("unhandled error on %s (request %s)", scope.get("path"), request_id)
            if started:
                raise
            failure = RequestError(500, "internal_error", "the service failed on this request")
            await error_response(failure, request_id)(scope, receive, send_with_id)


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
