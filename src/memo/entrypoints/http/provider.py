"""What only the HTTP app adds to the core container: the request and who signed it."""

from __future__ import annotations

from dishka import Provider, Scope, provide
from litestar import Request

from memo.domain.owners import Principal
from memo.entrypoints.http.access_log import PRINCIPAL_STATE


class HttpProvider(Provider):
    scope = Scope.REQUEST

    @provide
    def principal(self, request: Request) -> Principal:  # type: ignore[type-arg]
        principal: Principal = request.scope["state"][PRINCIPAL_STATE]  # set by require_signed_request
        return principal
