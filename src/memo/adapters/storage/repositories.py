"""SQLAlchemy repositories; every one works on the unit of work's session and never commits by itself.

Rows are expunged as soon as they are read or written (`auto_expunge`), so the session holds no state between
calls: reads always see the database, and no ORM flush can rewrite a row behind the domain's back. Writes that
must be atomic on the server (compare-and-set, upserts, insert-unless-taken) are single Core statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import ColumnElement, CursorResult, Insert, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import (
    ApiKeyRow,
    IdempotencyKeyRow,
    MemoryRow,
    MemoryTagRow,
    OwnerRow,
    api_key_from_domain,
    api_key_to_domain,
    idempotency_to_domain,
    idempotency_values,
    memory_from_domain,
    memory_to_domain,
    memory_values,
    owner_to_domain,
    owner_values,
    tag_rows,
)
from memo.adapters.storage.queries import SORT_ATTRIBUTES, wanted_tags
from memo.application.dto import MemoryQuery, Page, SortOrder
from memo.application.ports import ApiKeyRepository, IdempotencyRepository, MemoryRepository, OwnerRepository
from memo.domain.errors import OwnerAlreadyExists, ValidationFailed
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.memory import Memory
from memo.domain.owners import ApiKey, Owner


class _MemoryRows(SQLAlchemyAsyncRepository[MemoryRow]):
    model_type = MemoryRow


class _OwnerRows(SQLAlchemyAsyncRepository[OwnerRow]):
    model_type = OwnerRow


class _ApiKeyRows(SQLAlchemyAsyncRepository[ApiKeyRow]):
    model_type = ApiKeyRow
    id_attribute = "key_id"


class _IdempotencyRows(SQLAlchemyAsyncRepository[IdempotencyKeyRow]):
    model_type = IdempotencyKeyRow


_ROW_OPTIONS: dict[str, Any] = {
    "auto_expunge": True,
    "auto_refresh": False,  # the domain object already holds every column; a refresh would be a wasted SELECT
    "wrap_exceptions": False,  # keep SQLAlchemy's exceptions, so errors.translated() can classify them
    "count_with_window_function": False,  # the window count reads 0 when the offset is past the last row
}


def _affected(result: object) -> int:
    return cast("CursorResult[Any]", result).rowcount


def _insert_for(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support; both dialects spell it the same way."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class SqlAlchemyMemoryRepository(MemoryRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = _MemoryRows(session=session, **_ROW_OPTIONS)

    @translating
    async def add(self, memory: Memory) -> None:
        await self._rows.add(memory_from_domain(memory))
        await self._add_tags(memory)

    @translating
    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        row = await self._rows.get_one_or_none(MemoryRow.id == memory_id, MemoryRow.owner_id == owner_id)
        return None if row is None else memory_to_domain(row)

    @translating
    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        order: Literal["asc", "desc"] = "asc" if query.sort_order is SortOrder.ASC else "desc"
        rows, total = await self._rows.get_many_and_count(
            *_memory_filters(owner_id, query),
            OrderBy(field_name=SORT_ATTRIBUTES[query.sort_by], sort_order=order),
            OrderBy(field_name="id", sort_order=order),
            LimitOffset(limit=query.limit, offset=query.offset),
        )
        return Page(items=[memory_to_domain(row) for row in rows], total=total, limit=query.limit,
                    offset=query.offset)

    @translating
    async def replace(self, memory: Memory, *, expected_version: int) -> bool:
        values = memory_values(memory)
        del values["id"], values["owner_id"]
        result = await self._session.execute(
            update(MemoryRow)
            .where(MemoryRow.id == memory.id, MemoryRow.owner_id == memory.owner_id,
                   MemoryRow.version == expected_version)
            .values(**values)
            .execution_options(synchronize_session=False))
        if _affected(result) == 0:
            return False
        await self._session.execute(delete(MemoryTagRow).where(MemoryTagRow.memory_id == memory.id))
        await self._add_tags(memory)
        return True

    @translating
    async def remove(self, owner_id: UUID, memory_id: UUID) -> bool:
        # Tags first and explicitly: the ON DELETE CASCADE is only a backstop for a SQLite without foreign_keys=ON.
        await self._session.execute(
            delete(MemoryTagRow).where(MemoryTagRow.memory_id == memory_id, MemoryTagRow.owner_id == owner_id))
        result = await self._session.execute(
            delete(MemoryRow).where(MemoryRow.id == memory_id, MemoryRow.owner_id == owner_id)
            .execution_options(synchronize_session=False))
        return _affected(result) > 0

    async def _add_tags(self, memory: Memory) -> None:
        if memory.tags:
            await self._session.execute(insert(MemoryTagRow), tag_rows(memory))


def _memory_filters(owner_id: UUID, query: MemoryQuery) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [MemoryRow.owner_id == owner_id]
    if query.search:
        # lower(content) LIKE '%' || lower(:search) || '%' with % and _ escaped; lower() is Unicode-aware on SQLite too
        filters.append(MemoryRow.content.icontains(query.search, autoescape=True))
    if query.type is not None:
        filters.append(MemoryRow.type == query.type.value)
    if tags := wanted_tags(query):
        tagged_with_all = (
            select(MemoryTagRow.memory_id)
            .where(MemoryTagRow.owner_id == owner_id, MemoryTagRow.tag.in_(tags))
            .group_by(MemoryTagRow.memory_id)
            .having(func.count() == len(tags)))
        filters.append(MemoryRow.id.in_(tagged_with_all))
    if query.created_after is not None:
        filters.append(MemoryRow.created_at > query.created_after)
    if query.created_before is not None:
        filters.append(MemoryRow.created_at < query.created_before)
    return filters


class SqlAlchemyIdempotencyRepository(IdempotencyRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = _IdempotencyRows(session=session, **_ROW_OPTIONS)

    @translating
    async def get(self, owner_id: UUID, key: str) -> IdempotencyRecord | None:
        row = await self._rows.get_one_or_none(IdempotencyKeyRow.owner_id == owner_id, IdempotencyKeyRow.key == key)
        return None if row is None else idempotency_to_domain(row)

    @translating
    async def put(self, record: IdempotencyRecord) -> None:
        values = idempotency_values(record)
        statement = _insert_for(self._session, cast("Table", IdempotencyKeyRow.__table__)).values(**values)
        await self._session.execute(statement.on_conflict_do_update(
            index_elements=["owner_id", "key"],
            set_={name: values[name] for name in ("request_hash", "memory_id", "created_at")}))


class SqlAlchemyOwnerRepository(OwnerRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = _OwnerRows(session=session, **_ROW_OPTIONS)

    @translating
    async def add(self, owner: Owner) -> None:
        # ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed INSERT would poison
        # the whole transaction, and the caller may well go on using this unit of work.
        statement: Insert = _insert_for(self._session, cast("Table", OwnerRow.__table__)).values(
            **owner_values(owner)).on_conflict_do_nothing()
        if _affected(await self._session.execute(statement)) == 1:
            return
        if await self.by_name(owner.name) is not None:
            raise OwnerAlreadyExists(owner.name)
        if owner.whatsapp_phone_number_id is not None:
            raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        raise ValueError(f"owner id {owner.id} is already stored")

    @translating
    async def by_name(self, name: str) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.name == name)
        return None if row is None else owner_to_domain(row)

    @translating
    async def by_id(self, owner_id: UUID) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.id == owner_id)
        return None if row is None else owner_to_domain(row)

    @translating
    async def all(self) -> Sequence[Owner]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="id"))
        return [owner_to_domain(row) for row in rows]


class SqlAlchemyApiKeyRepository(ApiKeyRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = _ApiKeyRows(session=session, **_ROW_OPTIONS)

    @translating
    async def add(self, key: ApiKey) -> None:
        await self._rows.add(api_key_from_domain(key))

    @translating
    async def get(self, key_id: str) -> ApiKey | None:
        row = await self._rows.get_one_or_none(ApiKeyRow.key_id == key_id)
        return None if row is None else api_key_to_domain(row)

    @translating
    async def all(self) -> Sequence[ApiKey]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="key_id"))
        return [api_key_to_domain(row) for row in rows]

    @translating
    async def revoke(self, key_id: str, at: datetime) -> bool:
        """True when the key exists; revoking twice keeps the first revocation time."""
        result = await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at).execution_options(synchronize_session=False))
        if _affected(result) == 1:
            return True
        return await self.get(key_id) is not None
