"""/health/ready on real databases: it flips when PostgreSQL goes away and when the schema is behind the code,
and comes back without a restart; /health/live answers through all of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.schema_version import shipped_head
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Profile, Settings
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, drop_database, throwaway_database
from tests.support.tcp_proxy import TcpProxy

PREVIOUS = "0007"


async def ready(client: AsyncTestClient[Litestar]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()


async def eventually(probe: Callable[[], Awaitable[bool]], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await probe():
            return True
        await asyncio.sleep(0.1)
    return await probe()


def app_on(url: str, **changes: Any) -> Litestar:
    return create_app(Settings.for_tests(profile=Profile.PRODUCTION, database_url=url, database_pool_size=2,
                                         database_statement_timeout_ms=1000, **changes))


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="MEMO_TEST_POSTGRES_URL is not set")
async def test_ready_flips_to_503_fast_when_postgresql_goes_away_and_back_when_it_returns() -> None:
    assert POSTGRES_ADMIN_URL
    name = await create_database("memo_ready")
    base = make_url(POSTGRES_ADMIN_URL)
    proxy = TcpProxy(base.host or "127.0.0.1", base.port or 5432)
    proxy.start()
    url = base.set(database=name, port=proxy.port).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        async with AsyncTestClient(app=app_on(url)) as client:
            status, body = await ready(client)
            assert status == 200, body
            assert body["checks"]["migrations"] == {**body["checks"]["migrations"], "status": "ok",
                                                    "backend": "alembic", "current": shipped_head()}

            proxy.cut()
            started = time.monotonic()
            status, body = await ready(client)
            took = time.monotonic() - started

            assert status == 503
            assert took < 2
            assert body["status"] == "unready"
            assert body["checks"]["database"]["status"] == "error"
            assert body["checks"]["migrations"]["status"] == "error"
            assert "postgres" not in str(body["checks"]["database"].get("detail"))  # no URL, no host
            live = await client.get("/health/live")
            assert (live.status_code, live.json()) == (200, {"status": "ok"})

            proxy.start()
            assert await eventually(lambda: _is_ready(client), timeout_s=10)
    finally:
        proxy.close()
        await drop_database(name)


async def _is_ready(client: AsyncTestClient[Litestar]) -> bool:
    return (await ready(client))[0] == 200


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}"
        return
    if not POSTGRES_ADMIN_URL:
        pytest.skip("MEMO_TEST_POSTGRES_URL is not set")
    async with throwaway_database("memo_ready") as url:
        yield url


async def test_a_database_migrated_to_an_older_revision_is_not_ready_until_it_is_upgraded(
        empty_database: str) -> None:
    await upgrade(empty_database, PREVIOUS)
    async with AsyncTestClient(app=app_on(empty_database)) as client:
        status, body = await ready(client)

        assert status == 503
        migrations = body["checks"]["migrations"]
        assert (migrations["status"], migrations["current"], migrations["expected"]) == (
            "error", PREVIOUS, shipped_head())
        assert f"at revision {PREVIOUS}" in migrations["detail"]
        assert body["checks"]["database"]["status"] == "ok"
        assert (await client.get("/health/live")).status_code == 200

        await upgrade(empty_database)
        status, body = await ready(client)
        assert status == 200, body
        assert body["checks"]["migrations"]["current"] == shipped_head()


async def test_a_database_never_migrated_is_not_ready(tmp_path: Path) -> None:
    async with AsyncTestClient(app=app_on(f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}")) as client:
        status, body = await ready(client)

    assert status == 503
    assert body["checks"]["migrations"]["current"] is None
    assert body["checks"]["migrations"]["detail"] == "the database has no schema yet: run `memo db upgrade`"


async def test_with_an_in_process_worker_ready_waits_for_its_heartbeat(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}"
    await upgrade(url)
    app = create_app(Settings.for_tests(profile=Profile.EMBEDDED, database_url=url, data_dir=tmp_path,
                                        inprocess_worker=True))
    async with AsyncTestClient(app=app) as client:
        assert await eventually(lambda: _is_ready(client), timeout_s=10), await ready(client)
        worker = (await ready(client))[1]["checks"]["worker"]

    assert (worker["status"], worker["backend"]) == ("ok", "database outbox")
    assert worker["lastHeartbeatAt"] is not None
