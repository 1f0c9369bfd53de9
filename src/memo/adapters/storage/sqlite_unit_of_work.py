"""The unit of work on a SQLite file: a block is a turn of the process's one writer, committed with its group.

The repositories and their statements are the SQL ones (`SqlAlchemyUnitOfWork`); only where the session runs
differs. Each block binds the unit's session to the writer's connection, in a savepoint of its own
(`join_transaction_mode="create_savepoint"`): `commit()` releases the savepoint, leaving the block rolls back to it
when nothing was committed, and only then, with the writer free for the next block, waits for the group's COMMIT
(`SqliteWriter.durable`). So a use case returns, and a request answers, after its writes are on disk, as it did when
each block committed alone.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Self

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from memo.adapters.sqlite_writer import SqliteWriter
from memo.adapters.storage.errors import is_unavailable, translating
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.application.errors import NestedUnitOfWork, StorageUnavailable

logger = logging.getLogger(__name__)


class SqliteUnitOfWork(SqlAlchemyUnitOfWork):
    def __init__(self, writer: SqliteWriter) -> None:
        # One session for the unit's life, as on PostgreSQL, bound on entering each block to the writer's connection;
        # between blocks to the engine, which the repositories read their dialect from.
        super().__init__(AsyncSession(writer.engine, expire_on_commit=False, join_transaction_mode="create_savepoint"))
        self._writer = writer
        self._turn: AbstractAsyncContextManager[AsyncConnection] | None = None

    @translating
    async def __aenter__(self) -> Self:
        if self._open:
            raise NestedUnitOfWork
        turn = self._writer.turn(savepoint=False)
        connection = await turn.__aenter__()
        self._turn = turn
        self._session.bind = connection  # the writer keeps one connection while busy, but may change it when idle
        self._open = True
        self.committed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._open = False
        turn, self._turn = self._turn, None
        failure = exc[1] if len(exc) > 1 and isinstance(exc[1], BaseException) else None
        closing: BaseException | None = None
        try:
            await self._session.close()  # back to the savepoint, unless commit() released it
        except (SQLAlchemyError, OSError) as error:
            closing = error
        self._session.bind = self._writer.engine
        problem = failure or closing
        if turn is not None:  # frees the writer; on a problem, checks the group's transaction survived it
            await turn.__aexit__(type(problem) if problem else None, problem, None)
        if failure is not None:  # the block's own exception goes on; nothing of the block was committed
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
        await self._session.commit()
        self._writer.wrote()
        self.committed = True
