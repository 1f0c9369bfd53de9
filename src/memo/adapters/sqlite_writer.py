"""Every write this process makes to its SQLite file, on one connection, with group commit.

A commit is the dearest part of a small SQLite write: SQLite appends every page the transaction touched to the log
(about 120 of the 200 microseconds of a signed create's SQL on this machine's disk; docs/benchmarks.md).
Concurrent requests therefore write in one shared transaction and commit together:

- a writer's *turn* is exclusive (an asyncio lock) and runs inside that transaction, in a savepoint of its own, so a
  turn that fails rolls back alone;
- leaving a turn does not commit; whoever wrote (or read what others wrote) then waits in `durable()` for the
  group's COMMIT, which runs as soon as the turns already queued are done. A `201` is therefore still sent only
  after the commit that holds it, and a failed commit fails every turn in it (nothing of theirs was committed);
- every write of the process goes through here (units of work, nonces, jobs, key uses, vectors): a second
  connection writing while the group's transaction is open would wait on SQLite's lock on the event loop thread,
  which the group, on that same thread, could never release.

Reads on other connections see committed data only, as before. Turns run inline on the loop thread
(`sqlite_inline.py`) as every statement here does, so a turn is only ever contended by one that awaits
something else in the middle, and none of Memo's do.

After a commit the connection stays with the writer while turns are queued, and goes back to the pool once none
are, so nothing is held while the server idles or when the engine is disposed (`aclose()` first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from memo.application.errors import StorageUnavailable

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5_000  # every connection's wait for a lock (engine.py), and the writer's for its own
BUSY_FIRST_PAUSE_S = 0.001
BUSY_LAST_PAUSE_S = 0.05


class GroupCommitFailed(StorageUnavailable):
    """The group's COMMIT did not happen: none of the turns in it were committed."""


class SqliteWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._turn = asyncio.Lock()
        self._queued = 0  # turns waiting for the lock or holding it: while there are, the connection is kept
        self._connection: AsyncConnection | None = None  # checked out from the pool while the writer is busy
        self._driver: aiosqlite.Connection | None = None
        self._transaction: AsyncTransaction | None = None  # the group's, while one is open
        self._written = False  # the open transaction holds a turn's writes
        self._waiting: list[asyncio.Future[None]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.commits = 0  # group commits so far, and the turns they held: for tests and docs/benchmarks.md
        self.turns = 0

    @contextlib.asynccontextmanager
    async def turn(self, *, savepoint: bool = True) -> AsyncIterator[AsyncConnection]:
        """The writer's connection, this caller's alone, in the group's open transaction; `durable()` after it.

        With `savepoint` (the default) the turn's statements count as a write, and a failure rolls back this turn's
        statements only. Without, the caller says what it wrote (`wrote()`): a unit of work's own session keeps the
        savepoint then, and a single statement needs none, since SQLite applies a statement whole or not at all.
        """
        self._queued += 1
        try:
            async with self._turn:
                connection = await self._begin()
                nested = await connection.begin_nested() if savepoint else None
                try:
                    yield connection
                    if nested is not None:
                        await nested.commit()
                        self.wrote()
                except BaseException:
                    await self._undo(nested)
                    raise
                finally:
                    self._end_soon()
        finally:
            self._queued -= 1

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def driver(self) -> aiosqlite.Connection:
        """The open turn's driver connection, for statements too small to pay SQLAlchemy's way."""
        if self._driver is None or self._transaction is None:
            raise RuntimeError("the writer's driver is only there during a turn")
        return self._driver

    def wrote(self) -> None:
        """This turn's writes stand (its savepoint is released): the group's commit holds them."""
        self._written = True
        self.turns += 1

    async def durable(self) -> None:
        """Return once everything written so far is committed; GroupCommitFailed if that commit failed.

        A turn that only read waits too while others' writes are open: it may have read them, and no answer
        rests on what could still be lost."""
        if not self._written:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._end_soon()
        await waiter  # a future of its own: a cancelled request cancels nothing the others wait on

    async def aclose(self) -> None:
        """Commit what is open and give the connection back (before the engine is disposed)."""
        if self._written:
            with contextlib.suppress(StorageUnavailable):
                await self.durable()
        async with self._turn:
            await self._release()

    def _end_soon(self) -> None:
        """The open transaction ends once the turns queued now are done: committed, or, if nobody wrote, just
        closed, so the write lock (BEGIN IMMEDIATE) is never held while the server idles."""
        if self._transaction is not None and self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="sqlite group commit")

    async def _begin(self) -> AsyncConnection:
        """The group's transaction, begun on the held connection (checked out first if the writer was idle)."""
        if self._connection is not None and self._transaction is not None:
            return self._connection
        if self._connection is None:
            connection = await self._engine.connect()
            try:
                self._driver = _aiosqlite((await connection.get_raw_connection()).driver_connection)
                await self._driver.execute("PRAGMA busy_timeout=0")  # waits happen in _begin_immediate
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
        assert self._driver is not None  # noqa: S101 - set together with the connection
        try:
            self._transaction = await self._connection.begin()
            await _begin_immediate(self._driver)
        except BaseException:
            await self._release(invalidate=True)
            raise
        return self._connection

    async def _undo(self, nested: AsyncTransaction | None) -> None:
        try:
            if nested is not None:
                await nested.rollback()
            lost = self._driver is None or not self._driver.in_transaction
        except (SQLAlchemyError, OSError):
            lost = True
        if lost:  # SQLite rolls a whole transaction back on some errors (a full disk, I/O): the group is gone
            logger.warning("the SQLite group transaction was lost with a failed write; its turns fail")
            self._fail(GroupCommitFailed())
            await self._release(invalidate=True)

    async def _flush(self) -> None:
        try:
            async with self._turn:  # after the turns queued before it: they join this group
                waiting, self._waiting = self._waiting, []
                self._flushing = None  # a write from now on needs the next commit
                error = await self._commit()
                if self._queued == 0:  # idle: the pool gets the connection back
                    await self._release()
                for waiter in waiting:
                    if not waiter.done():
                        if error is None:
                            waiter.set_result(None)
                        else:
                            waiter.set_exception(error)
        finally:
            if self._flushing is asyncio.current_task():
                self._flushing = None

    async def _commit(self) -> BaseException | None:
        written, self._written = self._written, False
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return GroupCommitFailed() if written else None
        try:
            await transaction.commit()
        except (SQLAlchemyError, OSError) as error:
            logger.warning("the SQLite group commit failed: %s", type(error).__name__)
            await self._release(invalidate=True)
            failed = GroupCommitFailed()
            failed.__cause__ = error
            return failed
        self.commits += written
        return None

    def _fail(self, error: BaseException) -> None:
        waiting, self._waiting = self._waiting, []
        self._written = False
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)

    async def _release(self, *, invalidate: bool = False) -> None:
        connection, driver = self._connection, self._driver
        self._connection, self._transaction, self._driver = None, None, None
        if connection is None:
            return
        try:
            if invalidate:
                await connection.invalidate()
            elif driver is not None:  # the pool's other users wait for locks in SQLite, as before
                await driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except (SQLAlchemyError, sqlite3.Error, OSError):
            logger.warning("resetting the SQLite writer's connection failed", exc_info=True)
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.invalidate()  # never back to the pool with the writer's busy timeout
        try:
            await connection.close()
        except (SQLAlchemyError, OSError):
            logger.warning("closing the SQLite writer's connection failed", exc_info=True)


def _aiosqlite(driver: object) -> aiosqlite.Connection:
    if not isinstance(driver, aiosqlite.Connection):
        msg = "the SQLite engine is expected to run on aiosqlite"
        raise TypeError(msg)
    return driver


async def _begin_immediate(driver: aiosqlite.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another process's write lock on the event loop rather than in SQLite.

    pysqlite begins nothing itself, and a SAVEPOINT outside a transaction would commit on RELEASE. IMMEDIATE takes
    the write lock at once: a group that read first and wrote later could otherwise meet another process's commit
    in between and fail on SQLITE_BUSY_SNAPSHOT, which no wait cures. SQLite's own busy wait would sleep on the
    loop's thread, holding up this process's other writer (the group that holds the lock, in a test or a tool
    with two engines on one file) until it timed out; here the loop runs on between tries.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = BUSY_FIRST_PAUSE_S
    while True:
        try:
            await driver.execute("BEGIN IMMEDIATE")  # the writer's connection has busy_timeout 0 (_begin)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, BUSY_LAST_PAUSE_S)
            continue
        return


_WRITERS: weakref.WeakKeyDictionary[Any, SqliteWriter] = weakref.WeakKeyDictionary()


def writer_of(engine: AsyncEngine) -> SqliteWriter | None:
    """The one writer of a SQLite file engine (made on first use), or None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    writer = _WRITERS.get(engine.sync_engine)
    if writer is None:
        writer = _WRITERS[engine.sync_engine] = SqliteWriter(engine)
    return writer


@contextlib.asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction for a write outside a unit of work: the writer's turn on SQLite, `engine.begin()` elsewhere.

    Leaving it returns once the write is committed, as leaving `engine.begin()` does."""
    writer = writer_of(engine)
    if writer is None:
        async with engine.begin() as connection:
            yield connection
        return
    async with writer.turn() as connection:
        yield connection
    await writer.durable()
