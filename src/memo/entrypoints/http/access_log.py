"""The access line: one JSON object per HTTP request (logger `memo.access`), written by the outermost ASGI layer.

It names the route by its template (`/api/memories/{memory_id}`), never by the path asked for, and carries no
query string, header or body: what a line holds is fixed here, so no secret, signature, nonce or content can ride
in on it. An unrouted request (a 404 outside any route) has no template: its route is null.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from memo.domain.owners import Principal
from memo.entrypoints.logs import access_logger

PRINCIPAL_STATE = "principal"  # where the signed-request guard keeps who the request acts for (guards.py)


def log_access(scope: Any, request_id: str, status: int | None, began: float) -> None:  # noqa: ANN401 - ASGI scope
    """Write the request's line, if access lines are on; `status` is None when the client left before any answer."""
    log = access_logger()
    if log is None:
        return
    principal = scope["state"].get(PRINCIPAL_STATE)
    signed = isinstance(principal, Principal)
    client = scope.get("client")
    log.info("request", request_id=request_id, method=scope["method"], route=scope.get("path_template"),
             status=status, duration_ms=round((perf_counter() - began) * 1000, 3),
             client_ip=client[0] if client else None,
             key_id=principal.key_id if signed else None, owner_id=str(principal.owner_id) if signed else None)
