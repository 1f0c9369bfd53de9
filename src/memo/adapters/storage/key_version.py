"""How many times the API keys have changed, on PostgreSQL: one small read that tells the key store whether the
keys it has opened still stand.

Migration 0013 keeps one row, `api_key_changes.version`, moved by a statement trigger on `api_keys` in the very
transaction of any insert, delete or truncate, and of any update of a column a key's verdict depends on (not
`last_used_at`, which every use moves). The row is read like any other, so a reader sees a new version exactly
when it sees the change itself: a key revoked by `memo keys revoke`, another server or a cascade from a deleted
owner is refused from the next request on, as on SQLite with `PRAGMA data_version` (`key_cache.py`). A pushed
signal (LISTEN/NOTIFY) would save the read but arrives some time after the commit (5 ms at the median and 100 ms
at worst, measured here with a notice-based first version on a loaded 2-core machine), and a revocation must
count from the next request, not from a notice's arrival.

The read runs on the driver of one connection held in autocommit, as a prepared statement: a pooled checkout,
SQLAlchemy's execute, the row's decoding and the secret's opening are what the cached answer saves, about a
millisecond of CPU a request on PostgreSQL (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no types
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.adapters.storage.errors import transient_sqlstate
from memo.application.errors import StorageUnavailable

READ_VERSION = "SELECT version FROM api_key_changes"


class PostgresKeyVersion:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._held: AsyncConnection | None = None
        self._driver: asyncpg.Connection | None = None
        self._opening = asyncio.Lock()
        self._reading = asyncio.Lock()
        self._sent = 0  # reads sent so far
        self._answered = 0  # the number of the last read that answered, and its answer
        self._last = 0

    async def read(self) -> int:
        """The version as committed now: read by a statement sent after the call began, this caller's own or one
        that another caller sent later and that has answered since (one session runs one statement at a time, so
        concurrent requests queue here and share the read that follows their arrival). A failed read drops the
        held connection (the next read opens another) and raises, so the caller answers StorageUnavailable rather
        than trust what it kept."""
        asked = self._sent
        async with self._reading:
            if self._answered > asked:  # a read sent after this call began has answered
                return self._last
            self._sent += 1
            sent = self._sent
            self._last = await self._fetch()
            self._answered = sent
            return self._last

    async def _fetch(self) -> int:
        driver = self._driver or await self._open()
        try:
            version = await driver.fetchval(READ_VERSION)
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.PostgresError) as exc:
            # InternalClientError: the server ended the session while the read went out (seen on a terminate)
            await self._discard()
            if isinstance(exc, asyncpg.PostgresError) and not transient_sqlstate(exc.sqlstate):
                raise  # a missing table is a missed migration: a bug to see, not an outage
            raise StorageUnavailable from exc
        except BaseException:
            await self._discard()
            raise
        return int(version)

    async def _discard(self) -> None:
        """Drop a connection whose read failed: SQLAlchemy never saw the driver's error, and the pool pings only
        connections idle for a while (`idle_ping.py`), so one handed back would reach the next request dead."""
        held, self._held, self._driver = self._held, None, None
        if held is not None:
            await held.invalidate()

    async def aclose(self) -> None:
        held, self._held, self._driver = self._held, None, None
        if held is not None:
            try:
                await held.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await held.invalidate()

    async def _open(self) -> asyncpg.Connection:
        async with self._opening:
            if self._driver is None:
                connection = await self._engine.connect()
                try:
                    held = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    driver = _asyncpg((await held.get_raw_connection()).driver_connection)
                except BaseException:
                    await connection.close()
                    raise
                self._held, self._driver = held, driver
            return self._driver


def _asyncpg(driver: object) -> asyncpg.Connection:
    if not isinstance(driver, asyncpg.Connection):
        msg = "the PostgreSQL key version is read through asyncpg"
        raise TypeError(msg)
    return driver
