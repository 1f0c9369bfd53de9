"""The whole app on the test profile, with a fixed clock and a signer that speaks scheme v2."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from dishka import Provider, Scope, provide
from litestar import Litestar
from litestar.testing import AsyncTestClient

from memo.adapters.system import FixedClock
from memo.application.manage_keys import CreateOwner, IssueApiKey, RevokeApiKey
from memo.application.ports import Clock
from memo.client import sign_request
from memo.domain.errors import OwnerAlreadyExists
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Settings


class FixedClockProvider(Provider):
    def __init__(self, clock: FixedClock) -> None:
        super().__init__()
        self._clock = clock

    @provide(scope=Scope.APP, override=True)
    def clock(self) -> Clock:
        return self._clock


@dataclass
class Signer:
    """Signs and sends like a real client: the bytes sent are the bytes signed."""

    client: AsyncTestClient[Litestar]
    key_id: str
    secret: str
    clock: FixedClock
    extra_headers: dict[str, str] = field(default_factory=dict)

    async def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
                      headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                      ) -> httpx.Response:
        body = content if content is not None else (b"" if json_body is None else json.dumps(json_body).encode())
        target = httpx.URL(path, params=params).raw_path.decode() if params else path  # URL(params=None) drops a query
        signed = sign_request(method=method, url_or_path_and_query=target, body=body, key_id=self.key_id,
                              secret=self.secret, timestamp=int(self.clock.now().timestamp()))
        all_headers = {**signed, **self.extra_headers, **(headers or {})}
        if body and "content-type" not in {k.lower() for k in all_headers}:
            all_headers["Content-Type"] = "application/json"
        return await self.client.request(method, target, content=body, headers=all_headers)

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, json_body=body, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, json_body=body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)


@dataclass
class World:
    app: Litestar
    client: AsyncTestClient[Litestar]
    clock: FixedClock

    async def signer_for(self, owner: str) -> Signer:
        async with self.app.state.dishka_container() as scope:
            with contextlib.suppress(OwnerAlreadyExists):
                await (await scope.get(CreateOwner))(owner)
        async with self.app.state.dishka_container() as scope:
            issued = await (await scope.get(IssueApiKey))(owner, label="tests")
        return Signer(self.client, issued.key_id, issued.secret, self.clock)

    async def revoke(self, key_id: str) -> None:
        async with self.app.state.dishka_container() as scope:
            await (await scope.get(RevokeApiKey))(key_id)


def settings_for_tests(**changes: Any) -> Settings:
    return Settings.for_tests(**changes)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings() -> Settings:
    return settings_for_tests()


@pytest.fixture
async def world(settings: Settings, clock: FixedClock) -> AsyncIterator[World]:
    app = create_app(settings, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield World(app=app, client=client, clock=clock)


@pytest.fixture
async def alice(world: World) -> Signer:
    return await world.signer_for("alice")


@pytest.fixture
async def bob(world: World) -> Signer:
    return await world.signer_for("bob")


def fresh_nonce() -> str:
    return secrets.token_urlsafe(18)
