"""The last use of each key in the database: one UPDATE per flush, on the engine, outside any request's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.sqlite_writer import writing
from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import ApiKeyRow
from memo.application.ports import KeyUses

# executemany over (key, at): a later use already stored is left alone, so a flush never moves a key back
_AT = bindparam("at", type_=ApiKeyRow.__table__.c.last_used_at.type)
_RECORD = (update(ApiKeyRow).where(ApiKeyRow.key_id == bindparam("key"),
                                   or_(ApiKeyRow.last_used_at.is_(None), ApiKeyRow.last_used_at < _AT))
           .values(last_used_at=_AT).execution_options(synchronize_session=False))


class SqlKeyUses(KeyUses):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translating
    async def record(self, uses: Mapping[str, datetime]) -> None:
        if not uses:
            return
        async with writing(self._engine) as connection:
            await connection.execute(_RECORD, [{"key": key_id, "at": at} for key_id, at in sorted(uses.items())])
