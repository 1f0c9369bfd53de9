"""advanced-alchemy repositories over the rows, configured once for every SQL adapter of this package.

Rows are expunged as soon as they are read or written (`auto_expunge`), so a session holds no state between
calls: reads always see the database, and no ORM flush can rewrite a row behind the domain's back. Writes that
must be atomic on the server (compare-and-set, upserts, insert-unless-taken) are single Core statements.
"""

from __future__ import annotations

from typing import Any, cast

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.orm import ApiKeyRow, Base, IdempotencyKeyRow, MemoryRow, OwnerRow


class MemoryRows(SQLAlchemyAsyncRepository[MemoryRow]):
    model_type = MemoryRow


class OwnerRows(SQLAlchemyAsyncRepository[OwnerRow]):
    model_type = OwnerRow


class ApiKeyRows(SQLAlchemyAsyncRepository[ApiKeyRow]):
    model_type = ApiKeyRow
    id_attribute = "key_id"


class IdempotencyRows(SQLAlchemyAsyncRepository[IdempotencyKeyRow]):
    model_type = IdempotencyKeyRow


ROW_OPTIONS: dict[str, Any] = {
    "auto_expunge": True,
    "auto_refresh": False,  # the domain object already holds every column; a refresh would be a wasted SELECT
    "wrap_exceptions": False,  # keep SQLAlchemy's exceptions, so errors.translated() can classify them
    "count_with_window_function": False,  # the window count reads 0 when the offset is past the last row
}


def affected(result: object) -> int:
    return cast("CursorResult[Any]", result).rowcount


def insert_for(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support; both dialects spell it the same way."""
    table = cast("Table", model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
