"""The outermost ASGI layer: request ids, security headers and rate-limit headers on every response,
404s and faults outside any route included, and a last-resort 500 envelope."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, cast

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from memo.application.dto import RateLimitDecision
from memo.entrypoints.http.schemas import ErrorBody

log = logging.getLogger("memo.http")

SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@-]{1,128}")
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            b"font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; frame-ancestors 'none'")
RATE_STATE = "rate_limit"


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and SANE_REQUEST_ID.fullmatch(value):
            return value.decode()
    return uuid.uuid4().hex


def request_context(app: ASGIApp, *, production: bool) -> ASGIApp:
    fixed: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                                        (b"referrer-policy", b"no-referrer"),
                                        (b"cross-origin-resource-policy", b"same-origin")]
    if production:
        fixed.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        state: dict[str, Any] = cast("dict[str, Any]", scope).setdefault("state", {})
        state["request_id"] = request_id
        csp = DOCS_CSP if scope["path"].startswith("/schema") and not scope["path"].endswith(".json") else API_CSP
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", ()), *fixed, (b"content-security-policy", csp),
                           (b"x-request-id", request_id.encode())]
                rate = state.get(RATE_STATE)
                if isinstance(rate, RateLimitDecision):
                    headers += [(b"ratelimit-limit", str(rate.limit).encode()),
                                (b"ratelimit-remaining", str(rate.remaining).encode()),
                                (b"ratelimit-reset", str(rate.reset_after_s).encode())]
                message = cast("Message", {**message, "headers": headers})
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        except Exception:
            log.exception("fault outside any route", extra={"request_id": request_id, "path": scope["path"]})
            if started:
                raise
            body = msgspec.json.encode(ErrorBody(error="An unexpected error occurred; it has been logged.",
                                                 code="INTERNAL_ERROR", request_id=request_id))
            await send_with_headers(cast("Message", {
                "type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}))
            await send(cast("Message", {"type": "http.response.body", "body": body}))

    return middleware
