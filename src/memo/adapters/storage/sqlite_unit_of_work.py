"""The unit of work on a SQLite file: a block is a turn of the process's one writer, committed with its group.

The repositories and their statements are the SQL ones (`SqlAlchemyUnitOfWork`); only where the session runs
differs. Each block binds the unit's session to the writer's connection and opens a savepoint of its own, through
the driver (SQLAlchemy's savepoint cost more than a create's inserts): `commit()` releases it, leaving the block
rolls back to it when nothing was committed, and only then, with the writer free for the next block, waits for
the group's COMMIT (`SqliteWriter.durable`). So a use case returns, and a request answers, after its writes are on
disk, as it did when each block committed alone. A create's own inserts skip SQLAlchemy too (`sqlite_writes.py`).

The session joins the group's transaction with `join_transaction_mode="rollback_only"`: its commit and close leave
that transaction alone, and a rollback of the session would take the whole group back, so the block never asks
for one (it rolls back to its savepoint instead), and the repositories write through Core statements, never an ORM
flush, whose failure rolls the session back by itself. Should SQLite lose the transaction anyway (a full disk),
the writer fails the whole group, and nothing of it is reported as written.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import Self

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from memo.adapters.sqlite_writer import SqliteWriter
from memo.adapters.storage.errors import is_unavailable, translating
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.adapters.storage.sqlite_writes import SqliteMemoryRepository, SqliteOutbox
from memo.application.errors import NestedUnitOfWork, StorageUnavailable

logger = logging.getLogger(__name__)

SAVEPOINT = "memo_unit"


class SqliteUnitOfWork(SqlAlchemyUnitOfWork):
    def __init__(self, writer: SqliteWriter) -> None:
        # One session for the unit's life, as on PostgreSQL, bound on entering each block to the writer's connection;
        # between blocks to the engine, which the repositories read their dialect from.
        super().__init__(AsyncSession(writer.engine, expire_on_commit=False, join_transaction_mode="rollback_only"))
        self._writer = writer
        self._turn: AbstractAsyncContextManager[AsyncConnection] | None = None
        self._changes_at_commit = -1  # the driver's total_changes right after the last commit() of this block

    @cached_property
    def memories(self) -> SqliteMemoryRepository:  # type: ignore[override]
        return SqliteMemoryRepository(self._session, self._writer)

    @cached_property
    def outbox(self) -> SqliteOutbox:  # type: ignore[override]
        return SqliteOutbox(self._session, self._writer)

    @translating
    async def __aenter__(self) -> Self:
        if self._open:
            raise NestedUnitOfWork
        turn = self._writer.turn(savepoint=False)
        connection = await turn.__aenter__()
        try:
            await self._writer.driver.execute(f"SAVEPOINT {SAVEPOINT}")
        except BaseException as error:
            await turn.__aexit__(type(error), error, None)
            raise
        self._turn = turn
        self._session.bind = connection  # the writer keeps one connection while busy, but may change it when idle
        self._changes_at_commit = -1
        self._open = True
        self.committed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        turn, self._turn = self._turn, None
        failure = exc[1] if len(exc) > 1 and isinstance(exc[1], BaseException) else None
        closing: BaseException | None = None
        try:
            driver = self._writer.driver
            # whatever was not committed goes: all of a block that failed or never committed, or what it did after
            # its commit() (which released its work and opened this savepoint afresh); a block that changed no
            # row since its commit (total_changes counts its triggers' rows too) has nothing to roll back
            if self._changes_at_commit != driver.total_changes:
                await driver.execute(f"ROLLBACK TO {SAVEPOINT}")
            await driver.execute(f"RELEASE {SAVEPOINT}")
            if self._session.in_transaction() or self._session.identity_map:
                await self._session.close()  # forgets what it loaded; the group's transaction is not its to end
        except (SQLAlchemyError, sqlite3.Error, OSError) as error:
            closing = error
        self._session.bind = self._writer.engine
        problem = failure or closing
        if turn is not None:  # frees the writer; on a problem, checks the group's transaction survived it
            await turn.__aexit__(type(problem) if problem else None, problem, None)
        if failure is not None:  # the block's own exception goes on
            if closing is not None:
                logger.warning("rollback failed while leaving a failed unit of work", exc_info=closing)
            return
        if closing is not None:
            if is_unavailable(closing):
                raise StorageUnavailable from closing
            raise closing
        await self._writer.durable()

    @translating
    async def commit(self) -> None:
        session = self._session
        if session.new or session.dirty or session.deleted:  # no repository writes through the ORM today
            await session.flush()
        driver = self._writer.driver
        await driver.execute(f"RELEASE {SAVEPOINT}")
        await driver.execute(f"SAVEPOINT {SAVEPOINT}")  # for whatever the block does after committing
        self._changes_at_commit = driver.total_changes
        self._writer.wrote()
        self.committed = True
