"""PostgreSQL going away under a running app: clear 503s, an honest /health, and recovery without a restart."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from memo.adapters.storage.migrate import upgrade
from memo.client import sign_request
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Profile, Settings
from tests.support.postgres import create_database, drop_database, seed_owner_and_key
from tests.support.tcp_proxy import TcpProxy

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")
pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="MEMO_TEST_POSTGRES_URL is not set")]


@dataclass
class Running:
    client: AsyncTestClient[Litestar]
    proxy: TcpProxy
    key_id: str
    secret: str

    async def get(self, path: str = "/api/memories") -> tuple[int, str | None, float]:
        headers = sign_request(method="GET", url_or_path_and_query=path, body=b"", key_id=self.key_id,
                               secret=self.secret)
        started = time.monotonic()
        response = await self.client.get(path, headers=headers)
        return response.status_code, response.json().get("code"), time.monotonic() - started


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    assert POSTGRES_ADMIN_URL
    name = await create_database("memo_faults")
    base = make_url(POSTGRES_ADMIN_URL)
    proxy = TcpProxy(base.host or "127.0.0.1", base.port or 5432)
    proxy.start()
    url = base.set(database=name, port=proxy.port).render_as_string(hide_password=False)
    await upgrade(url)
    settings = Settings.for_tests(profile=Profile.PRODUCTION, database_url=url, database_pool_size=2,
                                  database_statement_timeout_ms=1000)
    issued = await seed_owner_and_key(settings)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Running(client=client, proxy=proxy, key_id=issued.key_id, secret=issued.secret)
    finally:
        proxy.close()
        await drop_database(name)


async def test_database_down_answers_503_database_unavailable_fast_and_recovers(running: Running) -> None:
    assert (await running.get())[0] == 200
    running.proxy.cut()
    status, code, took = await running.get()
    assert (status, code) == (503, "DATABASE_UNAVAILABLE")
    assert took < 6
    health = await running.client.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["status"] == "error"
    assert "postgresql" in health.json()["checks"]["database"]["backend"]

    running.proxy.start()
    for _ in range(20):
        if (await running.get())[0] == 200:
            break
        await asyncio.sleep(0.1)
    assert (await running.get())[0] == 200
    assert (await running.client.get("/health")).status_code == 200
