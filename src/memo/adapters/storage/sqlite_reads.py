"""The list's unfiltered page and a memory by id on a SQLite file, read on a driver connection.

Run on the writer's connection inside a unit of work (`sqlite_writes.py`), or on a reader's (`sqlite_readers.py`).

A page of twenty memories through SQLAlchemy's Core result costs more than SQLite's own work: the execute itself
(statement cache lookup, context, cursor wrapping) and two hundred result processors a page, each a chain of
calls (docs/benchmarks.md). So these reads are compiled once per dialect and run on the driver, inside the unit of
work's block, as the create's inserts are (`sqlite_writes.py`). Every value goes through SQLAlchemy's own result
processing of its column, or through a shortcut to the very same value for UUIDs and UTC times, which a test holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import aiosqlite
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.engine import Dialect

from memo.adapters.storage.orm import MemoryRow
from memo.adapters.storage.repositories import COUNTED_PAGES, OWNER_TOTAL
from memo.adapters.storage.sqlite_values import Process, bind_processor, result_processor
from memo.application.dto import MemoryQuery, Page, SortField, SortOrder
from memo.domain.memory import Memory, MemoryType, Source


@dataclass(frozen=True, slots=True)
class DriverSelect:
    """A SELECT as the dialect compiles it, with the processing of each bound value and of each result column."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Process | None, ...]
    results: tuple[Process | None, ...]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> DriverSelect:
        compiled = statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        return cls(sql=compiled.string, names=names,
                   binds=tuple(bind_processor(compiled.binds[name].type, dialect) for name in names),
                   results=tuple(result_processor(column.type, dialect) for column in statement.selected_columns))

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple([values[name] if process is None else process(values[name])
                      for name, process in zip(self.names, self.binds, strict=True)])

    async def rows(self, driver: aiosqlite.Connection, values: Mapping[str, Any]) -> list[list[Any]]:
        fetched = await driver.execute_fetchall(self.sql, self.parameters(values))  # one call: its cursor closed
        processors = self.results
        return [[value if process is None or value is None else process(value)
                 for value, process in zip(row, processors, strict=True)] for row in fetched]


@dataclass(frozen=True, slots=True)
class DriverReads:
    """The reads a signed list and a signed get make, compiled for one dialect."""

    pages: dict[tuple[SortField, SortOrder], DriverSelect]
    total: DriverSelect
    one: DriverSelect

    @classmethod
    def of(cls, dialect: Dialect) -> DriverReads:
        memories = cast("Table", MemoryRow.__table__)
        one = select(memories).where(memories.c.id == bindparam("id"), memories.c.owner_id == bindparam("owner_id"))
        return cls(pages={order: DriverSelect.of(page, dialect) for order, page in COUNTED_PAGES.items()},
                   total=DriverSelect.of(OWNER_TOTAL, dialect), one=DriverSelect.of(one, dialect))


_READS: dict[int, DriverReads] = {}


def driver_reads(dialect: Dialect) -> DriverReads:
    built = _READS.get(id(dialect))
    if built is None:
        built = _READS[id(dialect)] = DriverReads.of(dialect)
    return built


async def one_memory(reads: DriverReads, driver: aiosqlite.Connection, owner_id: UUID,
                     memory_id: UUID) -> Memory | None:
    rows = await reads.one.rows(driver, {"id": memory_id, "owner_id": owner_id})
    return memory_of(rows[0]) if rows else None


async def counted_page(reads: DriverReads, driver: aiosqlite.Connection, owner_id: UUID,
                       query: MemoryQuery) -> Page[Memory]:
    """The owner's unfiltered page: one statement, so the page and its total (on every row) are one snapshot."""
    values = {"owner_id": owner_id, "limit": query.limit, "offset": query.offset}
    rows = await reads.pages[query.sort_by, query.sort_order].rows(driver, values)
    if rows:
        total = rows[0][-1]
    else:  # no row to carry the count (past the last memory, or none at all): it is read on its own
        counted = await reads.total.rows(driver, values)
        total = counted[0][0] if counted else 0
    return Page(items=[memory_of(row) for row in rows], total=total, limit=query.limit, offset=query.offset)


MEMORY_COLUMNS = tuple(column.name for column in cast("Table", MemoryRow.__table__).columns)


def memory_of(values: Sequence[Any]) -> Memory:
    """A memory from the processed values of a row of `memories`, in the table's column order."""
    (id_, owner_id, content, type_, tags, metadata, source, created_at, updated_at, version) = values[:10]
    return Memory(id=id_, owner_id=owner_id, content=content, type=_TYPES.get(type_) or MemoryType(type_),
                  tags=tuple(tags), metadata=dict(metadata), source=_SOURCES.get(source) or Source(source),
                  created_at=created_at, updated_at=updated_at, version=version)


# by stored value: a dict lookup is a tenth of the enum's own call, twice a row (an unknown value still raises)
_TYPES = {kind.value: kind for kind in MemoryType}
_SOURCES = {source.value: source for source in Source}


if MEMORY_COLUMNS != ("id", "owner_id", "content", "type", "tags", "metadata", "source", "created_at",
                      "updated_at", "version"):  # memory_of unpacks by position
    msg = f"memory_of expects the memories columns in their migration order, not {MEMORY_COLUMNS}"
    raise RuntimeError(msg)
