"""Reads of a SQLite file on connections of their own, each with a worker thread of its own: off the event loop.

The writer (`sqlite_writer.py`) runs its statements inline on the loop thread, which suits writes: each takes
microseconds, and a turn is never interleaved. A read can take far longer (a full-text search, a filtered count
over an owner's memories), and inline it would hold up every other request for as long, and wait its turn behind
the writes. So `MemoryReads` runs on a pool of reader connections through aiosqlite as it is (one worker thread a
connection), beside the writer in WAL mode: neither waits for the other, and a read sees what was committed when
its statement (or its transaction, below) began: every write already answered, nothing of a group still open.

- A get and an unfiltered list, the hot reads, are one statement each, run on the driver in one call (one trip
  to the worker thread and back), with SQLAlchemy's processing of every column (`sqlite_reads.py`).
- Everything else (filtered and full-text lists, keyword ranking, hits read back by id) goes through the SQL
  repository on the reader's connection, inside one read transaction, so a filtered list's page and its count
  are one snapshot.
- Reader connections are `query_only`: a write sent here by mistake fails rather than take the file's write lock
  beside the writer. Python's sqlite3 begins no transaction before a read, so a connection coming back to the
  pool holds none, unless a read transaction was begun here, which is ended here; the pool is told not to roll
  back (a trip to the thread) on every return.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import QueuePool

from memo.adapters.sqlite_writer import SQLITE_BUSY_TIMEOUT_MS
from memo.adapters.storage.engine import sqlite_file
from memo.adapters.storage.errors import translating
from memo.adapters.storage.repositories import SqlAlchemyMemoryRepository, unfiltered
from memo.adapters.storage.sqlite_reads import counted_page, driver_reads, one_memory
from memo.application.dto import MemoryQuery, Page
from memo.application.ports import MemoryReads
from memo.domain.memory import Memory
from memo.domain.retrieval import Hit, SearchFilters


class SqliteReaders:
    """The reader connections of one SQLite file engine, in a pool of their own."""

    def __init__(self, writes: AsyncEngine, path: Path) -> None:
        pool = cast("QueuePool", writes.sync_engine.pool)  # the file engine's (engine.py): as many readers
        self.engine = create_async_engine(writes.url.set(database=str(path)), pool_size=pool.size(),
                                          max_overflow=pool.size(), pool_timeout=pool.timeout(),
                                          pool_reset_on_return=None)
        event.listen(self.engine.sync_engine, "connect", partial(_prepare_reader, timeout_ms=SQLITE_BUSY_TIMEOUT_MS))
        self._reads = driver_reads(self.engine.dialect)

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reader's driver connection for statements that each make their own snapshot."""
        proxied = await self.engine.raw_connection()
        try:
            yield proxied.driver_connection  # type: ignore[misc]
        finally:
            proxied.close()

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
        async with self.driver() as driver:
            return await one_memory(self._reads, driver, owner_id, memory_id)

    async def page(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        async with self.driver() as driver:
            return await counted_page(self._reads, driver, owner_id, query)

    async def aclose(self) -> None:
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
