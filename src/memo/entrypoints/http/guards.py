"""The signed-request guard: it hands the raw request to the AuthenticateRequest use case and keeps the answer.

It runs as the signed routes' `before_request` hook (`signed_request`, `signed_json_request`), not as a Litestar
`guards=` entry: Litestar hands every guard a copy of the route handler object, 10 to 16 microseconds a request on
this machine, for nothing the guard reads. The hook runs at the same point, before any parameter is parsed or the
handler's dependencies are built, and what it raises is answered by the same exception handlers.

The guard knows no signing scheme and no header name: the scheme is whatever RequestAuthenticator adapter the
container holds, and it reads the headers it needs from all of them. What the guard adds is the body budget:
the bytes of a request not yet authenticated count against the process's budget until authentication ends.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException

from memo.application.authenticate_request import AuthenticateRequest
from memo.application.dto import IncomingRequest
from memo.entrypoints.http.access_log import PRINCIPAL_STATE
from memo.entrypoints.http.body import BodyBudget
from memo.entrypoints.http.context import RATE_STATE

BODY_BUDGET_STATE = "body_budget"
AUTHENTICATE_STATE = "authenticate_request"


async def keep_authenticate_request(app: Litestar) -> None:
    """Resolve the use case once, at start: it lives as long as the app (dishka's APP scope), and fetching it
    through each request's container took a tenth of the whole guard."""
    app.state[AUTHENTICATE_STATE] = await app.state.dishka_container.get(AuthenticateRequest)


def all_headers(scope: Any) -> dict[str, str]:  # noqa: ANN401 - an ASGI scope
    """Every header by lower-case name; of a repeated one, the first (as the signature covers one value)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name not in headers:
            headers[name] = raw_value.decode("latin-1")
    return headers


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


class UnauthenticatedBody:
    """Reads the body of a request not yet authenticated, its size reserved against the process's body budget
    first (the declared length, or the route's whole cap for a chunked body) until `release()`."""

    def __init__(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        # The route's own Request when the guard has it (an HTTP route always passes one): its parsed headers and
        # the body it reads are then the handler's too, instead of being parsed and read into a second object.
        self._request: Request[Any, Any, Any] = (
            connection if isinstance(connection, Request) else Request(connection.scope, connection.receive))
        self._budget: BodyBudget = connection.app.state[BODY_BUDGET_STATE]
        self._reserved = 0

    async def __call__(self) -> bytes:
        request = self._request
        limit = request.route_handler.resolve_request_max_body_size() or self._budget.total
        declared = request.content_length  # an unreadable Content-Length is a 400 here, before any wait
        self._reserved = await self._budget.reserve(limit if declared is None else min(declared, limit))
        return await request.body()

    def release(self) -> None:
        self._budget.release(self._reserved)
        self._reserved = 0


async def require_signed_request(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    authenticate: AuthenticateRequest = connection.app.state[AUTHENTICATE_STATE]
    scope: Any = connection.scope
    body = UnauthenticatedBody(connection)
    # some ASGI clients (Litestar's test client among them) leave the query in raw_path; the path ends at '?'
    raw_path: bytes = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
    try:
        result = await authenticate(IncomingRequest(
            method=scope["method"], path=raw_path.decode("utf-8", "surrogateescape"),
            query=scope["query_string"].decode("utf-8", "surrogateescape"), headers=all_headers(scope),
            client_ip=client_ip(connection), read_body=body))
    finally:
        body.release()
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


async def signed_request(request: Request[Any, Any, Any]) -> None:
    """The `before_request` hook of signed routes that take no JSON body."""
    await require_signed_request(request)


async def signed_json_request(request: Request[Any, Any, Any]) -> None:
    """The `before_request` hook of signed JSON routes: authenticated first, so an unsigned caller learns nothing
    of what the route accepts."""
    await require_signed_request(request)
    await require_json_body(request)
