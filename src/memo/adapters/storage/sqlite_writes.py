"""The signed create's writes on a SQLite file, run on the writer's driver connection past SQLAlchemy.

Inside a unit of work's turn, SQLAlchemy's statement and result machinery cost more than SQLite's own work: about
50 microseconds an execute on this machine (docs/benchmarks.md), three to four executes a create. So the inserts a
create makes (the memory, its tags, its index job) are compiled once per table and dialect, with SQLAlchemy's own
bind processing per column kept (the stored bytes are the ones Core would store, which a test holds), and run on
the driver, inside the block's savepoint, which the unit of work opened on the same connection.
Everything else in the unit of work goes through the SQL repositories as it does on PostgreSQL.
"""

from __future__ import annotations

from typing import cast
from uuid import UUID

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.sqlite_writer import SqliteWriter
from memo.adapters.storage.driver_inserts import driver_insert
from memo.adapters.storage.errors import translating
from memo.adapters.storage.jobs import SqlAlchemyOutbox, job_values
from memo.adapters.storage.orm import JobRow, MemoryRow, MemoryTagRow, tag_rows
from memo.adapters.storage.repositories import SqlAlchemyMemoryRepository, memory_columns
from memo.adapters.storage.sqlite_reads import counted_page, driver_reads, one_memory
from memo.application.dto import MemoryQuery, Page
from memo.domain.jobs import Job
from memo.domain.memory import Memory


class SqliteMemoryRepository(SqlAlchemyMemoryRepository):
    def __init__(self, session: AsyncSession, writer: SqliteWriter) -> None:
        super().__init__(session)
        self._writer = writer
        dialect = writer.engine.dialect
        self._memory = driver_insert(cast("Table", MemoryRow.__table__), dialect)
        self._tags = driver_insert(cast("Table", MemoryTagRow.__table__), dialect)
        self._reads = driver_reads(dialect)

    @translating
    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        return await one_memory(self._reads, self._writer.driver, owner_id, memory_id)

    async def _counted_page(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        return await counted_page(self._reads, self._writer.driver, owner_id, query)

    @translating
    async def add(self, memory: Memory) -> None:
        driver = self._writer.driver  # inside the block's savepoint: these writes roll back with it
        await driver.execute(self._memory.sql, self._memory.row(memory_columns(memory)))
        if memory.tags:
            await driver.executemany(self._tags.sql, [self._tags.row(tag) for tag in tag_rows(memory)])


class SqliteOutbox(SqlAlchemyOutbox):
    def __init__(self, session: AsyncSession, writer: SqliteWriter) -> None:
        super().__init__(session)
        self._writer = writer
        self._job = driver_insert(cast("Table", JobRow.__table__), writer.engine.dialect)

    @translating
    async def enqueue(self, job: Job) -> None:
        await self._writer.driver.execute(self._job.sql, self._job.row(job_values(job)))
