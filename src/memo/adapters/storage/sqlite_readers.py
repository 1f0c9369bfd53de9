"""Reads of a SQLite file on connections of their own, apart from the writer; those of unbounded cost on threads.

The writer (`sqlite_writer.py`) runs its statements inline on the loop thread, which suits writes: each takes
microseconds, and a turn is never interleaved. A read inside a unit of work would wait for the writer's turn and
then for its group's commit, and a long one (a full-text search, a filtered count over an owner's memories) would
hold up every other request for as long as it runs. So `MemoryReads` takes reader connections of its own, beside
the writer in WAL mode: neither waits for the other, and a read sees what was committed when its statement (or
its transaction, below) began: every write already answered, nothing of a group still open.

- Reads whose cost has no bound (filtered and full-text lists, keyword ranking, hits read back by id, and a page
  past the first `INLINE_ROWS` rows) run on a pool of connections through aiosqlite as it is, one worker thread
  a connection, so the loop serves other requests meanwhile. The SQL repository runs them inside one read
  transaction, so a filtered list's page and its count are one snapshot.
- A get (a primary-key probe) and an unfiltered page within the first `INLINE_ROWS` rows (one walk of the owner's
  index, 0.2 ms at worst) run inline on the loop, on reader connections of their own (`sqlite_inline.py`).
  On threads they cost 34-42 % of the throughput of a server on one core (docs/benchmarks.md): each trip back
  waits for the GIL from the loop, which is busy with the other requests. Each is one statement, run on the
  driver in one call with SQLAlchemy's processing of every column (`sqlite_reads.py`).
- Reader connections are `query_only`: a write sent here by mistake fails rather than take the file's write lock
  beside the writer. Python's sqlite3 begins no transaction before a read, so a connection coming back to the
  pool holds none, unless a read transaction was begun here, which is ended here; the pool is told not to roll
  back (a trip to the thread) on every return.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import QueuePool

from memo.adapters.sqlite_writer import SQLITE_BUSY_TIMEOUT_MS
from memo.adapters.storage.engine import sqlite_file
from memo.adapters.storage.errors import translating
from memo.adapters.storage.repositories import SqlAlchemyMemoryRepository, unfiltered
from memo.adapters.storage.sqlite_inline import inline_connector
from memo.adapters.storage.sqlite_reads import counted_page, driver_reads, one_memory
from memo.application.dto import MemoryQuery, Page
from memo.application.ports import MemoryReads
from memo.domain.memory import Memory
from memo.domain.retrieval import Hit, SearchFilters

# rows of the owner's index an unfiltered page may walk on the loop: about 40 us past a page's own 0.2 ms, where
# 10,000 would take 0.4 ms more (bench/read_stalls.py, 100,000 memories)
INLINE_ROWS = 1_000


class SqliteReaders:
    """The reader connections of one SQLite file engine, in pools of their own: threaded, and a few inline."""

    def __init__(self, writes: AsyncEngine, path: Path) -> None:
        pool = cast("QueuePool", writes.sync_engine.pool)  # the file engine's (engine.py): as many readers
        url = writes.url.set(database=str(path))
        self.engine = create_async_engine(url, pool_size=pool.size(), max_overflow=pool.size(),
                                          pool_timeout=pool.timeout(), pool_reset_on_return=None)
        # one connection, held: a call on it returns without yielding to the loop, so no two reads are ever inside
        # it at once, and holding it saves a pool checkout and return a read (about 100 microseconds)
        self.inline = create_async_engine(url, async_creator=inline_connector(path), pool_size=1, max_overflow=0,
                                          pool_timeout=pool.timeout(), pool_reset_on_return=None)
        for engine in (self.engine, self.inline):
            event.listen(engine.sync_engine, "connect", partial(_prepare_reader, timeout_ms=SQLITE_BUSY_TIMEOUT_MS))
        self._reads = driver_reads(self.engine.dialect)
        self._held: AsyncConnection | None = None
        self._held_driver: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def driver(self, *, inline: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """A reader's driver connection for statements that each make their own snapshot: on its worker thread,
        or, for a read whose cost is bounded, `inline` on the loop's (the held one; replaced if it fails)."""
        if inline:
            driver = self._held_driver or await self._open_inline()
            try:
                yield driver
            except sqlite3.Error:
                await self._drop_inline()
                raise
            return
        proxied = await self.engine.raw_connection()
        try:
            yield proxied.driver_connection  # type: ignore[misc]
        finally:
            proxied.close()

    async def _open_inline(self) -> aiosqlite.Connection:
        async with self._opening:
            if self._held_driver is None:
                connection = await self.inline.connect()
                try:
                    driver = (await connection.get_raw_connection()).driver_connection
                except BaseException:
                    await connection.close()
                    raise
                self._held, self._held_driver = connection, driver
                return cast("aiosqlite.Connection", driver)
            return self._held_driver

    async def _drop_inline(self) -> None:
        held, self._held, self._held_driver = self._held, None, None
        if held is not None:
            await held.invalidate()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session on a reader's connection inside one read transaction, rolled back at the end."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("BEGIN")  # deferred: the snapshot is taken by the first read
            try:
                async with AsyncSession(bind=connection) as session:
                    yield session
            finally:
                await connection.rollback()

    async def one(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        """A primary-key probe: microseconds, inline."""
        async with self.driver(inline=True) as driver:
            return await one_memory(self._reads, driver, owner_id, memory_id)

    async def page(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        """The owner's index walked to the page's end: inline up to `INLINE_ROWS` rows, on a thread past them."""
        async with self.driver(inline=query.offset + query.limit <= INLINE_ROWS) as driver:
            return await counted_page(self._reads, driver, owner_id, query)

    async def aclose(self) -> None:
        held, self._held, self._held_driver = self._held, None, None
        if held is not None:
            await held.close()
        await self.inline.dispose()
        await self.engine.dispose()


def _prepare_reader(dbapi_connection: Any, _record: object, *, timeout_ms: int) -> None:  # noqa: ANN401
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
    finally:
        cursor.close()


class SqliteReads(MemoryReads):
    def __init__(self, readers: SqliteReaders) -> None:
        self._readers = readers

    @translating
    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        return await self._readers.one(owner_id, memory_id)

    @translating
    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        if unfiltered(query):
            return await self._readers.page(owner_id, query)
        async with self._readers.session() as session:
            return await SqlAlchemyMemoryRepository(session).find(owner_id, query)

    @translating
    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        async with self._readers.session() as session:
            return await SqlAlchemyMemoryRepository(session).get_many(owner_id, memory_ids)

    @translating
    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        async with self._readers.session() as session:
            return await SqlAlchemyMemoryRepository(session).rank(owner_id, text, filters=filters, limit=limit)


_READERS: weakref.WeakKeyDictionary[Any, SqliteReaders] = weakref.WeakKeyDictionary()


def readers_of(engine: AsyncEngine) -> SqliteReaders | None:
    """The reader pool of a SQLite file engine (made on first use), or None where there is no file to share."""
    path = sqlite_file(engine.url)
    if path is None:
        return None
    readers = _READERS.get(engine.sync_engine)
    if readers is None:
        readers = _READERS[engine.sync_engine] = SqliteReaders(engine, path.expanduser())
    return readers


async def close_readers(engine: AsyncEngine) -> None:
    """Close the engine's reader pool, if it made one."""
    readers = _READERS.pop(engine.sync_engine, None)
    if readers is not None:
        await readers.aclose()
