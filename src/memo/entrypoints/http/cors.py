"""CORS for the configured origins only, with refusals in the error envelope like every other failure.

A preflight from an origin, method or header list not allowed answers `403 CORS_NOT_ALLOWED`, saying which;
an allowed one answers `204` with exactly the methods and headers Memo accepts (the signing headers among them).
A plain request from another origin is served without CORS headers: the browser keeps the answer from the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from memo.entrypoints.http.context import answer
from memo.entrypoints.http.schemas import ErrorBody

ALLOWED_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("content-type", "idempotency-key", "if-match", "x-request-id", "x-memo-key-id",
                   "x-memo-timestamp", "x-memo-nonce", "x-memo-signature")
EXPOSED_HEADERS = ("x-request-id", "etag", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
                   "retry-after", "date")  # Date: a signer in a page learns its clock offset from it
PREFLIGHT_MAX_AGE_S = 600


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _joined(values: Iterable[str]) -> bytes:
    return ", ".join(values).encode()


class Cors:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self._app, self._origins = app, frozenset(origins)
        self._preflight = [(b"access-control-allow-methods", _joined(ALLOWED_METHODS)),
                           (b"access-control-allow-headers", _joined(ALLOWED_HEADERS)),
                           (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()), (b"vary", b"Origin")]
        self._simple = [(b"access-control-expose-headers", _joined(EXPOSED_HEADERS)), (b"vary", b"Origin")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == ScopeType.HTTP else None
        if origin is None or scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        allowed = origin in self._origins
        requested_method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested_method is not None:
            await self._answer_preflight(scope, send, origin=origin, allowed=allowed, method=requested_method)
            return
        if not allowed:
            await self._app(scope, receive, send)
            return
        extra = [(b"access-control-allow-origin", origin.encode()), *self._simple]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = cast("Message", {**message, "headers": [*message.get("headers", ()), *extra]})
            await send(message)

        await self._app(scope, receive, send_with_cors)

    async def _answer_preflight(self, scope: Scope, send: Send, *, origin: str, allowed: bool, method: str) -> None:
        requested = {h.strip().lower() for h in (_header(scope, b"access-control-request-headers") or "").split(",")}
        refused = [what for what, ok in (("origin", allowed), ("method", method.upper() in ALLOWED_METHODS),
                                         ("headers", requested - {""} <= set(ALLOWED_HEADERS))) if not ok]
        if refused:
            state: dict[str, Any] = cast("dict[str, Any]", scope).get("state", {})
            await answer(send, 403, ErrorBody(
                error="This cross-origin request is not allowed.", code="CORS_NOT_ALLOWED",
                details=f"not allowed: {', '.join(refused)}", request_id=state.get("request_id", "")))
            return
        await send(cast("Message", {"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin.encode()), *self._preflight]}))
        await send(cast("Message", {"type": "http.response.body", "body": b""}))
