"""The outermost ASGI layer: request ids, security headers and rate-limit headers on every response,
404s and faults outside any route included, the body deadline, a last-resort envelope, and the access line.

While a request is served its id is bound in structlog's context, so every log line it causes carries it."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Sequence
from time import perf_counter
from typing import Any, cast

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from memo.application.dto import RateLimitDecision
from memo.entrypoints.http.access_log import log_access
from memo.entrypoints.http.body import CLOSE_STATE, ClientDisconnected, RequestBodyTimeout, with_body_deadline
from memo.entrypoints.http.schemas import ErrorBody

log = logging.getLogger("memo.http")

SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@-]{1,128}")
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The page at / (entrypoints/web): its own files only, nothing inline, no plugin, no <base>, forms to itself alone.
PAGE_CSP = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            b"font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; frame-ancestors 'none'")
RATE_STATE = "rate_limit"


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and SANE_REQUEST_ID.fullmatch(value):
            return value.decode()
    return secrets.token_hex(16)  # 32 hex characters, as a UUID's hex, without building a UUID


def _state_headers(state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """Headers that what happened to the request calls for: its rate limit, a connection that must close."""
    headers: list[tuple[bytes, bytes]] = []
    rate = state.get(RATE_STATE)
    if isinstance(rate, RateLimitDecision):
        headers += [(b"ratelimit-limit", str(rate.limit).encode()),
                    (b"ratelimit-remaining", str(rate.remaining).encode()),
                    (b"ratelimit-reset", str(rate.reset_after_s).encode())]
    if state.get(CLOSE_STATE):
        headers.append((b"connection", b"close"))  # a body left unread: the connection cannot be reused
    return headers


class RequestContext:
    """Wraps the app: every response gets the fixed headers and the request id, whatever raised on the way."""

    def __init__(self, app: ASGIApp, *, production: bool, body_timeout_s: float) -> None:
        self._app, self._body_timeout_s = app, body_timeout_s
        self._fixed: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"), (b"cross-origin-resource-policy", b"same-origin")]
        if production:
            self._fixed.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        self._api = (*self._fixed, (b"content-security-policy", API_CSP))
        self._docs = (*self._fixed, (b"content-security-policy", DOCS_CSP))
        self._page = (*self._fixed, (b"content-security-policy", PAGE_CSP))

    def _headers_for(self, path: str, request_id: str) -> list[tuple[bytes, bytes]]:
        if path.startswith("/api/"):  # the signed routes, decided by the first test
            fixed = self._api
        elif path == "/" or path.startswith("/app/"):
            fixed = self._page
        else:
            fixed = self._docs if path.startswith("/schema") and not path.endswith(".json") else self._api
        return [*fixed, (b"x-request-id", request_id.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        began = perf_counter()
        request_id = _incoming_request_id(scope)
        state: dict[str, Any] = cast("dict[str, Any]", scope).setdefault("state", {})
        state["request_id"] = request_id
        fixed = self._headers_for(scope["path"], request_id)
        status: int | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), *fixed, *_state_headers(state)]
                message = cast("Message", {**message, "headers": headers})
            await send(message)

        bound = bind_contextvars(request_id=request_id)
        try:
            await self._app(scope, with_body_deadline(receive, state, self._body_timeout_s), send_with_headers)
        except (RequestBodyTimeout, asyncio.CancelledError) as cut:  # a body read outside any route; a stop's grace
            if status is None:
                await answer(send_with_headers, *_cut_off(cut, request_id))
            elif isinstance(cut, asyncio.CancelledError):
                raise
        except ClientDisconnected:
            return
        except Exception:
            log.exception("fault outside any route", extra={"request_id": request_id, "path": scope["path"]})
            if status is not None:
                raise
            await answer(send_with_headers, 500, ErrorBody(error="An unexpected error occurred; it has been logged.",
                                                           code="INTERNAL_ERROR", request_id=request_id))
        finally:
            log_access(scope, request_id, status, began)
            reset_contextvars(**bound)


def _cut_off(cut: BaseException, request_id: str) -> tuple[int, ErrorBody, Sequence[tuple[bytes, bytes]]]:
    """The answer to a request cut off before it was answered: its body too late (408), or the server's stop at
    the end of MEMO_SHUTDOWN_GRACE_S (503, never uvicorn's plain-text 500)."""
    if isinstance(cut, RequestBodyTimeout):
        return 408, ErrorBody(error="The request body did not arrive in time.", code="REQUEST_TIMEOUT",
                              request_id=request_id), ()
    return 503, ErrorBody(error="The server is shutting down; send the request again.", code="SHUTTING_DOWN",
                          request_id=request_id), ((b"retry-after", b"1"), (b"connection", b"close"))


async def answer(send: Send, status: int, error: ErrorBody, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Send one error envelope straight to ASGI, for answers given outside Litestar."""
    body = msgspec.json.encode(error)
    await send(cast("Message", {
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *headers]}))
    await send(cast("Message", {"type": "http.response.body", "body": body}))
