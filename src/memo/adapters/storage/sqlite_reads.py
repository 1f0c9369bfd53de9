"""The list's unfiltered page and a memory by id on a SQLite file, read on the writer's driver connection.

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

import aiosqlite
from sqlalchemy import Select, Table
from sqlalchemy.engine import Dialect

from memo.adapters.storage.orm import MemoryRow
from memo.adapters.storage.sqlite_values import Process, bind_processor, result_processor
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


MEMORY_COLUMNS = tuple(column.name for column in cast("Table", MemoryRow.__table__).columns)


def memory_of(values: Sequence[Any]) -> Memory:
    """A memory from the processed values of a row of `memories`, in the table's column order."""
    (id_, owner_id, content, type_, tags, metadata, source, created_at, updated_at, version) = values[:10]
    return Memory(id=id_, owner_id=owner_id, content=content, type=MemoryType(type_), tags=tuple(tags),
                  metadata=dict(metadata), source=Source(source), created_at=created_at, updated_at=updated_at,
                  version=version)


if MEMORY_COLUMNS != ("id", "owner_id", "content", "type", "tags", "metadata", "source", "created_at",
                      "updated_at", "version"):  # memory_of unpacks by position
    msg = f"memory_of expects the memories columns in their migration order, not {MEMORY_COLUMNS}"
    raise RuntimeError(msg)
