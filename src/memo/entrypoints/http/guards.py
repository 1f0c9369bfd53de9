"""The signed-request guard: it hands the raw request to the AuthenticateRequest use case and keeps the answer.

The guard knows no signing scheme: the scheme is whatever RequestAuthenticator adapter the container holds.
"""

from __future__ import annotations

from typing import Any

from dishka import AsyncContainer
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler

from memo.application.authenticate_request import AuthenticateRequest
from memo.application.dto import SignedRequest
from memo.entrypoints.http.context import RATE_STATE

PRINCIPAL_STATE = "principal"
SIGNING_HEADERS = ("x-memo-signature", "x-memo-timestamp", "x-memo-key-id", "x-memo-nonce")


def _signing_headers(scope: Any) -> dict[str, str]:  # noqa: ANN401 - an ASGI scope
    wanted: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in SIGNING_HEADERS and name not in wanted:
            wanted[name] = raw_value.decode("latin-1")
    return wanted


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


async def require_signed_request(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    container: AsyncContainer = connection.state.dishka_container
    authenticate = await container.get(AuthenticateRequest)
    scope: Any = connection.scope
    body = await Request[Any, Any, Any](scope, connection.receive).body()
    # some ASGI clients (Litestar's test client among them) leave the query in raw_path; the path ends at '?'
    raw_path: bytes = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
    result = await authenticate(SignedRequest(
        method=scope["method"], path=raw_path.decode("utf-8", "surrogateescape"),
        query=scope["query_string"].decode("utf-8", "surrogateescape"), headers=_signing_headers(scope), body=body,
        client_ip=client_ip(connection)))
    state = scope["state"]
    state[PRINCIPAL_STATE] = result.principal
    state[RATE_STATE] = result.rate


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a body in any other media type (415) instead of guessing at it."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and (media_type or await request.body()):
        raise HTTPException(status_code=415, detail="Send the body as application/json.")
