"""What SQLite is handed for a column's value and what it hands back, as SQLAlchemy would process them, for the
statements that run on the driver past SQLAlchemy (`sqlite_writes.py`, `sqlite_reads.py`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy.engine import Dialect
from sqlalchemy.types import JSON, TypeEngine

Process = Callable[[Any], Any]
UUID_BYTES = 16
SQLITE_TIME_CHARS = 26  # "YYYY-MM-DD HH:MM:SS.ffffff", as SQLite's DATETIME stores a time


def result_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Process | None:
    """SQLAlchemy's result processing of the column, or a shortcut to the very same value for the types every row
    carries: a UUID (GUID) from its 16 bytes, a time (DateTimeUTC) from SQLite's text of it, in UTC, a JSON document
    by msgspec where SQLAlchemy would use `json.loads`. Anything the shortcut does not expect, or a document msgspec
    refuses (NaN, a lone surrogate), goes through SQLAlchemy's own processor."""
    general = column_type.dialect_impl(dialect).result_processor(dialect, None)
    if general is None or dialect.name != "sqlite":
        return general
    if isinstance(column_type, GUID) and column_type.binary:
        def uuid_of(value: object) -> object:
            return UUID(bytes=value) if type(value) is bytes and len(value) == UUID_BYTES else general(value)
        return uuid_of
    if isinstance(column_type, DateTimeUTC):
        def utc_time(value: object) -> object:
            if type(value) is str and len(value) == SQLITE_TIME_CHARS:  # fromisoformat reads it to the same time,
                return datetime.fromisoformat(value + "+00:00")  # aware at once: a sixth of `replace(tzinfo=)`'s cost
            return general(value)
        return utc_time
    if isinstance(column_type, JSON) and getattr(dialect, "_json_deserializer", None) is None:
        def document(value: object) -> object:
            try:
                return msgspec.json.decode(value) if type(value) is str else general(value)
            except msgspec.DecodeError:
                return general(value)
        return document
    return general


def bind_processor(column_type: TypeEngine[Any], dialect: Dialect) -> Process | None:
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
                return value.astimezone(UTC).isoformat(" ", "microseconds")[:SQLITE_TIME_CHARS]
            return general(value)
        return utc_text
    return general
