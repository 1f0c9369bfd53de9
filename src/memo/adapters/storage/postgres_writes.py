"""A create on PostgreSQL: the memory, its tags and its jobs written by one statement, in autocommit.

A signed create made six round trips to PostgreSQL in the request's transaction (BEGIN, the memory, its tags, its
job, COMMIT, besides the pool's ping), each through SQLAlchemy's execution layers, which took more of the
server's CPU than the rest of the request (docs/benchmarks.md). So the unit of work holds a new memory back, with
the jobs enqueued after it, until `commit()`; when nothing else in the block has touched the database by then, one
statement writes them all (an INSERT per table, as data-modifying CTEs) on a connection in autocommit. One
statement is atomic on its own: all of it commits or none, and `commit()` returns once it has. Its triggers and
constraints run as they do for separate INSERTs (the tags' foreign key to the memory is checked at the statement's
end, after every part of it).

Anything else the block does first (an idempotency claim) leaves the writes as they were: straight to the
transaction. Anything else it does after the memory was held back begins the session's transaction, and the
session's `after_begin` writes what was held, first, in that transaction: the block reads its own writes and
keeps its order (a row pointing at the memory comes after it). A block left without `commit()` drops what it
held, as a rollback drops what was written.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, Self, cast

from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from memo.adapters.storage.driver_inserts import driver_insert
from memo.adapters.storage.errors import translating
from memo.adapters.storage.jobs import SqlAlchemyOutbox, job_values
from memo.adapters.storage.list_totals import ListTotals
from memo.adapters.storage.orm import JobRow, MemoryRow, MemoryTagRow
from memo.adapters.storage.repositories import SqlAlchemyMemoryRepository, memory_columns
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.domain.jobs import Job
from memo.domain.memory import Memory

_PLACEHOLDER = re.compile(r"\$(\d+)")
_HELD = "memo_held_create"  # Session.info key: the unit of work's HeldCreate


def _shifted(sql: str, by: int) -> str:
    return _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + by}", sql)


@cache
def create_statement(dialect: Dialect, *, tagged: bool, jobs: int) -> str:
    """`WITH memory AS (INSERT ...), tags AS (INSERT ... unnest), job_0 AS (INSERT ...) ... SELECT 1`, numbered
    for the memory's values, then the tags as one array, then each job's values."""
    memory = driver_insert(cast("Table", MemoryRow.__table__), dialect)
    job = driver_insert(cast("Table", JobRow.__table__), dialect)
    tag_columns = driver_insert(cast("Table", MemoryTagRow.__table__), dialect).names
    if memory.names[:2] != ("id", "owner_id"):
        msg = f"the memory's INSERT is expected to bind id and owner_id first, not {memory.names[:2]}"
        raise RuntimeError(msg)
    parts = [f"memory AS ({memory.sql})"]
    taken = len(memory.names)
    if tagged:  # the tags' memory and owner are the memory's own first two values
        taken += 1
        picked = {"memory_id": "$1::UUID", "owner_id": "$2::UUID", "tag": "tag"}
        columns, chosen = ", ".join(tag_columns), ", ".join(picked[name] for name in tag_columns)
        tags = f"INSERT INTO memory_tags ({columns}) SELECT {chosen} FROM unnest(${taken}::VARCHAR[]) AS tag"  # noqa: S608
        parts.append(f"tags AS ({tags})")
    for index in range(jobs):
        parts.append(f"job_{index} AS ({_shifted(job.sql, taken)})")
        taken += len(job.names)
    return "WITH " + ", ".join(parts) + " SELECT 1"


@dataclass(slots=True)
class HeldCreate:
    """A memory not written yet, and the jobs enqueued after it."""

    memory: Memory | None = None
    jobs: list[Job] = field(default_factory=list)

    def take(self, dialect: Dialect) -> tuple[str, tuple[Any, ...]] | None:
        """The statement that writes what is held, and its values; nothing is held afterwards."""
        memory, jobs = self.memory, self.jobs
        if memory is None:
            return None
        self.memory, self.jobs = None, []
        memory_insert = driver_insert(cast("Table", MemoryRow.__table__), dialect)
        job_insert = driver_insert(cast("Table", JobRow.__table__), dialect)
        values = list(memory_insert.row(memory_columns(memory)))
        if memory.tags:
            values.append(list(memory.tags))
        for job in jobs:
            values.extend(job_insert.row(job_values(job)))
        return create_statement(dialect, tagged=bool(memory.tags), jobs=len(jobs)), tuple(values)


class HoldingSession(Session):
    """The sync side of a PostgreSQL unit of work's session: what is held is written first when it begins."""


@event.listens_for(HoldingSession, "after_begin")
def _write_held(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    held = session.info.get(_HELD)
    if isinstance(held, HeldCreate):
        taken = held.take(connection.dialect)
        if taken is not None:  # in the session's greenlet: the sync call awaits the driver
            connection.exec_driver_sql(*taken)


_AUTOCOMMIT: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The engine's pool with connections in autocommit: no BEGIN or COMMIT round trip around one statement."""
    found = _AUTOCOMMIT.get(engine.sync_engine)
    if found is None:
        found = _AUTOCOMMIT[engine.sync_engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


class PostgresMemoryRepository(SqlAlchemyMemoryRepository):
    def __init__(self, session: AsyncSession, held: HeldCreate, *, list_totals: ListTotals | None) -> None:
        super().__init__(session, list_totals=list_totals)
        self._held = held

    async def add(self, memory: Memory) -> None:
        if self._held.memory is None and not self._session.in_transaction():
            self._held.memory = memory
            return
        await super().add(memory)  # begins the transaction first, which writes a memory held before this one


class PostgresOutbox(SqlAlchemyOutbox):
    def __init__(self, session: AsyncSession, held: HeldCreate) -> None:
        super().__init__(session)
        self._held = held

    async def enqueue(self, job: Job) -> None:
        if self._held.memory is not None and not self._session.in_transaction():
            self._held.jobs.append(job)
            return
        await super().enqueue(job)


class PostgresUnitOfWork(SqlAlchemyUnitOfWork):
    """The SQL unit of work, with a block's new memory and its jobs written by one statement at `commit()`."""

    def __init__(self, session: AsyncSession, *, list_totals: ListTotals | None = None) -> None:
        if not isinstance(session.sync_session, HoldingSession):
            msg = "a PostgresUnitOfWork needs a session made with sync_session_class=HoldingSession"
            raise TypeError(msg)
        super().__init__(session, list_totals=list_totals)
        self._held = HeldCreate()
        session.sync_session.info[_HELD] = self._held

    @cached_property
    def memories(self) -> PostgresMemoryRepository:  # type: ignore[override]
        return PostgresMemoryRepository(self._session, self._held, list_totals=self._list_totals)

    @cached_property
    def outbox(self) -> PostgresOutbox:  # type: ignore[override]
        return PostgresOutbox(self._session, self._held)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._held.memory, self._held.jobs = None, []
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._held.memory, self._held.jobs = None, []  # not committed: dropped, as a rollback drops writes
        await super().__aexit__(*exc)

    @translating
    async def commit(self) -> None:
        if self._held.memory is not None and not self._session.in_transaction():
            engine = self._session.bind
            if not isinstance(engine, AsyncEngine):
                msg = "a PostgresUnitOfWork's session is bound to its engine"
                raise TypeError(msg)
            taken = self._held.take(engine.dialect)
            if taken is not None:
                async with autocommit(engine).connect() as connection:
                    await connection.exec_driver_sql(*taken)
            self.committed = True
            return
        await super().commit()
