"""An INSERT of every column of a table compiled once per dialect, with SQLAlchemy's bind processing of each column.

For the statements a signed create runs past SQLAlchemy's statement layers (`sqlite_writes.py`, `postgres_writes.py`):
the values handed to the driver are the ones Core would hand it, so the stored bytes are Core's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect

from memo.adapters.storage.sqlite_values import bind_processor


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
                   processors=tuple(bind_processor(table.c[name].type, dialect) for name in names))

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple([values[name] if process is None else process(values[name])  # a list builds faster than a
                      for name, process in zip(self.names, self.processors, strict=True)])  # generator feeds


_BUILT: dict[tuple[str, int], DriverInsert] = {}


def driver_insert(table: Table, dialect: Dialect) -> DriverInsert:
    key = (table.name, id(dialect))
    built = _BUILT.get(key)
    if built is None:
        built = _BUILT[key] = DriverInsert.of(table, dialect)
    return built
