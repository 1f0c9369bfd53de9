"""The signed create's writes on a SQLite file, run on the writer's driver connection past SQLAlchemy.

Inside a unit of work's turn, SQLAlchemy's statement and result machinery cost more than SQLite's own work: about
50 microseconds an execute on this machine (docs/benchmarks.md), three to four executes a create. So the inserts a
create makes (the memory, its tags, its index job) are compiled once per table and dialect, with SQLAlchemy's own
bind processing per column kept (the stored bytes are the ones Core would store, which a test holds), and run on
the driver, inside the block's savepoint, which the unit of work opened on the same connection.
Everything else in the unit of work goes through the SQL repositories as it does on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from memo.adapters.sqlite_writer import SqliteWriter
from memo.adapters.storage.errors import translating
from memo.adapters.storage.jobs import SqlAlchemyOutbox, job_values
from memo.adapters.storage.orm import JobRow, MemoryRow, MemoryTagRow, tag_rows
from memo.adapters.storage.repositories import SqlAlchemyMemoryRepository, memory_columns
from memo.domain.jobs import Job
from memo.domain.memory import Memory


@dataclass(frozen=True, slots=True)
class DriverInsert:
    """An INSERT of every column of a table, as the dialect compiles it, and the dialect's processing of each value."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, table: Table, dialect: Dialect) -> DriverInsert:
        compiled = insert(table).compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        return cls(sql=compiled.string, names=names,
                   processors=tuple(_processor(table.c[name].type, dialect) for name in names))

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple([values[name] if process is None else process(values[name])  # a list builds faster than a
                      for name, process in zip(self.names, self.processors, strict=True)])  # generator feeds


def _processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processing of the column, or a shortcut to the very same value for the two types every
    row carries: a UUID (GUID) as its 16 bytes, a time (DateTimeUTC) as SQLite's text of it in UTC. Anything the
    shortcut does not expect goes through SQLAlchemy's own processor."""
    general = column_type.dialect_impl(dialect).bind_processor(dialect)
    if general is None or dialect.name != "sqlite":
        return general
    if isinstance(column_type, GUID) and column_type.binary:
        def uuid_bytes(value: object) -> object:
            return value.bytes if type(value) is UUID else general(value)
        return uuid_bytes
    if isinstance(column_type, DateTimeUTC):
        def utc_text(value: object) -> object:
            if type(value) is datetime and value.tzinfo is not None:
                return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]  # as SQLite's DATETIME stores it
            return general(value)
        return utc_text
    return general


_BUILT: dict[tuple[str, int], DriverInsert] = {}


def driver_insert(table: Table, dialect: Dialect) -> DriverInsert:
    key = (table.name, id(dialect))
    built = _BUILT.get(key)
    if built is None:
        built = _BUILT[key] = DriverInsert.of(table, dialect)
    return built


class SqliteMemoryRepository(SqlAlchemyMemoryRepository):
    def __init__(self, session: AsyncSession, writer: SqliteWriter) -> None:
        super().__init__(session)
        self._writer = writer
        dialect = writer.engine.dialect
        self._memory = driver_insert(cast("Table", MemoryRow.__table__), dialect)
        self._tags = driver_insert(cast("Table", MemoryTagRow.__table__), dialect)

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
