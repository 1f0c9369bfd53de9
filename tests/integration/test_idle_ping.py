"""A pooled PostgreSQL connection is pinged only after sitting idle: one the server dropped while idle is replaced
before a request sees it, and one just used goes to the request unpinged (`memo.adapters.storage.idle_ping`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.storage.sqlalchemy import create_engine

pytestmark = pytest.mark.postgres


def counted_pings(engine: AsyncEngine) -> list[object]:
    """The pings the engine sends, whoever asks for them (SQLAlchemy's pre-ping goes through `do_ping` too)."""
    pings: list[object] = []
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    dialect.do_ping = counting  # type: ignore[method-assign]
    return pings


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(admin: AsyncEngine, pid: int) -> None:
    async with admin.connect() as connection:
        assert (await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        for _ in range(100):  # the backend ends a moment after the call returns
            gone = (await connection.execute(text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                                             {"pid": pid})).scalar_one()
            if gone:
                return
            await asyncio.sleep(0.01)
    pytest.fail(f"backend {pid} did not end")


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    yield engine
    await engine.dispose()


@asynccontextmanager
async def one_connection_pool(postgres_url: str, *, ping_after_idle_s: float) -> AsyncIterator[
        tuple[AsyncEngine, list[object]]]:
    """An engine whose pool holds one connection, with the pings it sends counted."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, ping_after_idle_s=ping_after_idle_s)
    try:
        yield engine, counted_pings(engine)
    finally:
        await engine.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_before_the_request_uses_it(
        postgres_url: str, admin: AsyncEngine) -> None:
    async with one_connection_pool(postgres_url, ping_after_idle_s=0.05) as (engine, pings):
        first = await backend_pid(engine)
        await terminate(admin, first)
        await asyncio.sleep(0.1)

        second = await backend_pid(engine)  # no error: the ping found the dead connection and the pool reconnected

        assert second != first
        assert len(pings) == 1


async def test_a_connection_just_used_goes_to_the_request_without_a_ping(
        postgres_url: str, admin: AsyncEngine) -> None:
    async with one_connection_pool(postgres_url, ping_after_idle_s=60) as (engine, pings):
        first = await backend_pid(engine)
        for _ in range(3):
            assert await backend_pid(engine) == first
        assert pings == []
        await terminate(admin, first)

        with pytest.raises(DBAPIError) as failed:  # the documented window: this one request fails ...
            await backend_pid(engine)
        assert failed.value.connection_invalidated

        assert await backend_pid(engine) != first  # ... and the next has a new connection
