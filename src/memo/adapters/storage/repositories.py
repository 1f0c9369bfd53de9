"""SQLAlchemy repositories of memories and idempotency records; they share the unit of work's session, never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, cast
from uuid import UUID

from advanced_alchemy.filters import LimitOffset, OrderBy
from advanced_alchemy.types import GUID
from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    and_,
    asc,
    bindparam,
    column,
    delete,
    desc,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.errors import translating
from memo.adapters.storage.fulltext import search_filter
from memo.adapters.storage.keyword_rank import rank
from memo.adapters.storage.list_totals import Listing, ListTotals, filter_key, filtered_page, unfiltered_page
from memo.adapters.storage.orm import (
    IdempotencyKeyRow,
    MemoryRow,
    MemoryTagRow,
    idempotency_to_domain,
    idempotency_values,
    memory_to_domain,
    memory_values,
    tag_rows,
)
from memo.adapters.storage.queries import SORT_ATTRIBUTES, wanted_tags
from memo.adapters.storage.rows import ROW_OPTIONS, IdempotencyRows, MemoryRows, affected, insert_for
from memo.application.dto import MemoryQuery, Page, SortField, SortOrder
from memo.application.ports import IdempotencyRepository, MemoryRepository
from memo.domain.idempotency import IDEMPOTENCY_TTL, IdempotencyRecord
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.retrieval import Hit, SearchFilters

# Built once: on the write path, constructing and coercing a statement per request costs more than SQLite's work.
_INSERT_MEMORY = insert(cast("Table", MemoryRow.__table__))
_INSERT_TAGS = insert(cast("Table", MemoryTagRow.__table__))
_IDS_PER_STATEMENT = 500  # far under every backend's limit of bound parameters
# Each owner's number of memories on SQLite, kept by the triggers of migration 0012 (not in the ORM's metadata).
_COUNTS = table("memory_counts", column("owner_id", GUID()), column("total", Integer()))
OWNER_TOTAL = select(_COUNTS.c.total).where(_COUNTS.c.owner_id == bindparam("owner_id"))


def _counted_pages() -> dict[tuple[SortField, SortOrder], Select[Any]]:
    """The unfiltered list on SQLite, one statement per order: the page, each row carrying the owner's count."""
    memories = cast("Table", MemoryRow.__table__)
    total = OWNER_TOTAL.scalar_subquery().label("total")
    pages: dict[tuple[SortField, SortOrder], Select[Any]] = {}
    for field, name in SORT_ATTRIBUTES.items():
        for order in SortOrder:
            direction = asc if order is SortOrder.ASC else desc
            pages[field, order] = (
                select(memories, total).where(memories.c.owner_id == bindparam("owner_id"))
                .order_by(direction(memories.c[name]), direction(memories.c.id))
                .limit(bindparam("limit")).offset(bindparam("offset")))
    return pages


COUNTED_PAGES = _counted_pages()


def memory_columns(memory: Memory) -> dict[str, object]:
    values = memory_values(memory)
    values["metadata"] = values.pop("meta")  # the column's name, for the table-level INSERT
    return values


class SqlAlchemyMemoryRepository(MemoryRepository):
    def __init__(self, session: AsyncSession, *, list_totals: ListTotals | None = None) -> None:
        """`list_totals`: the process's one on PostgreSQL (the container's); without it every filtered list counts."""
        self._session = session
        self._totals = list_totals

    @cached_property
    def _rows(self) -> MemoryRows:
        return MemoryRows(session=self._session, **ROW_OPTIONS)

    @translating
    async def add(self, memory: Memory) -> None:
        # Core on the session's own connection (same transaction): the ORM layer would cost more than the write
        connection = await self._session.connection()
        await connection.execute(_INSERT_MEMORY, memory_columns(memory))
        if memory.tags:
            await connection.execute(_INSERT_TAGS, tag_rows(memory))

    @translating
    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        row = await self._rows.get_one_or_none(MemoryRow.id == memory_id, MemoryRow.owner_id == owner_id)
        return None if row is None else memory_to_domain(row)

    @translating
    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        dialect = self._session.get_bind().dialect.name
        if dialect == "sqlite" and unfiltered(query):  # the owner's alone: its count is kept, not counted
            return await self._counted_page(owner_id, query)
        filters = _memory_filters(dialect, owner_id, query)
        if dialect == "postgresql":
            return await self._postgres_page(owner_id, query, filters)
        order: Literal["asc", "desc"] = "asc" if query.sort_order is SortOrder.ASC else "desc"
        rows, total = await self._rows.get_many_and_count(
            *filters,
            OrderBy(field_name=SORT_ATTRIBUTES[query.sort_by], sort_order=order),
            OrderBy(field_name="id", sort_order=order),
            LimitOffset(limit=query.limit, offset=query.offset),
        )
        return Page(items=[memory_to_domain(row) for row in rows], total=total, limit=query.limit,
                    offset=query.offset)

    async def _counted_page(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        # One statement, so the page and its total are one snapshot; Core rows, since the ORM's cost more than SQLite
        connection = await self._session.connection()
        values = {"owner_id": owner_id, "limit": query.limit, "offset": query.offset}
        rows = (await connection.execute(COUNTED_PAGES[query.sort_by, query.sort_order], values)).all()
        # no row to carry the count (past the last memory, or none at all): it is read on its own
        total = rows[0].total if rows else (await connection.execute(OWNER_TOTAL, values)).scalar_one_or_none() or 0
        return Page(items=[_memory_of(row) for row in rows], total=total, limit=query.limit, offset=query.offset)

    async def _postgres_page(self, owner_id: UUID, query: MemoryQuery,
                             filters: list[ColumnElement[bool]]) -> Page[Memory]:
        """The page with its owner's count deltas in one statement; see list_totals.py for why a total is exact."""
        memories = cast("Table", MemoryRow.__table__)
        direction = asc if query.sort_order is SortOrder.ASC else desc
        listing = Listing(owner_id=owner_id, filters=filters, limit=query.limit, offset=query.offset,
                          order_by=(direction(memories.c[SORT_ATTRIBUTES[query.sort_by]]), direction(memories.c.id)))
        connection = await self._session.connection()
        if unfiltered(query):
            rows, total = await unfiltered_page(connection, listing, self._totals)
        else:
            rows, total = await filtered_page(connection, listing, filter_key(owner_id, query), self._totals)
        return Page(items=[_memory_of(row) for row in rows], total=total, limit=query.limit, offset=query.offset)

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
        if affected(result) == 0:
            return False
        await self._session.execute(delete(MemoryTagRow).where(MemoryTagRow.memory_id == memory.id))
        if memory.tags:
            await self._session.execute(_INSERT_TAGS, tag_rows(memory))
        return True

    @translating
    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        if not memory_ids:
            return []
        owner = _unindexed_owner(self._session.get_bind().dialect.name)
        rows = await self._rows.get_many(owner == owner_id, MemoryRow.id.in_(list(memory_ids)))
        return [memory_to_domain(row) for row in rows]

    @translating
    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        return await rank(self._session, owner_id, text, filters=filters, limit=limit)  # see keyword_rank.py

    @translating
    async def page_after(self, owner_id: UUID, after: tuple[datetime, UUID] | None, *,
                         limit: int) -> Sequence[Memory]:
        # (created_at, id) > (t, i) spelled out: both backends walk ix_memories_owner_created from the cursor
        statement = select(MemoryRow).where(MemoryRow.owner_id == owner_id)
        if after is not None:
            created_at, memory_id = after
            statement = statement.where(or_(MemoryRow.created_at > created_at,
                                            and_(MemoryRow.created_at == created_at, MemoryRow.id > memory_id)))
        statement = statement.order_by(MemoryRow.created_at, MemoryRow.id).limit(limit)
        rows = (await self._session.execute(statement)).scalars().all()
        memories = [memory_to_domain(row) for row in rows]
        for row in rows:  # a long export must not grow the session's identity map page after page
            self._session.expunge(row)
        return memories

    @translating
    async def owners_of(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, UUID]:
        owners: dict[UUID, UUID] = {}
        ids = list(dict.fromkeys(memory_ids))
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            statement = select(MemoryRow.id, MemoryRow.owner_id).where(
                MemoryRow.id.in_(ids[start:start + _IDS_PER_STATEMENT]))
            owners.update({row[0]: row[1] for row in await self._session.execute(statement)})
        return owners

    @translating
    async def add_many(self, memories: Sequence[Memory]) -> None:
        if not memories:
            return
        connection = await self._session.connection()
        await connection.execute(_INSERT_MEMORY, [memory_columns(memory) for memory in memories])
        if tags := [row for memory in memories for row in tag_rows(memory)]:
            await connection.execute(_INSERT_TAGS, tags)

    @translating
    async def remove(self, owner_id: UUID, memory_id: UUID) -> bool:
        # Tags first and explicitly: the ON DELETE CASCADE is only a backstop for a SQLite without foreign_keys=ON.
        await self._session.execute(
            delete(MemoryTagRow).where(MemoryTagRow.memory_id == memory_id, MemoryTagRow.owner_id == owner_id))
        result = await self._session.execute(
            delete(MemoryRow).where(MemoryRow.id == memory_id, MemoryRow.owner_id == owner_id)
            .execution_options(synchronize_session=False))
        return affected(result) > 0


def _memory_of(row: Row[Any]) -> Memory:
    """A memory from a Core row of `memories` (orm.memory_to_domain reads an ORM row, whose metadata is `meta`)."""
    return Memory(id=row.id, owner_id=row.owner_id, content=row.content, type=MemoryType(row.type),
                  tags=tuple(row.tags), metadata=dict(row.metadata), source=Source(row.source),
                  created_at=row.created_at, updated_at=row.updated_at, version=row.version)


def _unindexed_owner(dialect: str) -> ColumnElement[UUID]:
    """The owner column for a lookup by ids: on SQLite `+owner_id`, which keeps the planner on the primary key.

    Without statistics SQLite would rather walk the owner's whole index than probe sixty ids (14.7 ms against
    0.11 ms at 100,000 memories); PostgreSQL has statistics and gets the plain column.
    """
    if dialect != "sqlite":
        return MemoryRow.owner_id.expression
    return type_coerce(literal_column(f"+{MemoryRow.__tablename__}.owner_id"), MemoryRow.owner_id.type)


def unfiltered(query: MemoryQuery) -> bool:
    """True when the query asks for nothing but the owner: no filter `_memory_filters` would add."""
    return (not query.search and query.type is None and not wanted_tags(query) and query.created_after is None
            and query.created_before is None)


def _memory_filters(dialect: str, owner_id: UUID, query: MemoryQuery) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [MemoryRow.owner_id == owner_id]
    if query.search:
        filters.append(search_filter(dialect, query.search))  # full-text: see fulltext.py and memo.domain.search
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

    @cached_property
    def _rows(self) -> IdempotencyRows:
        return IdempotencyRows(session=self._session, **ROW_OPTIONS)

    @translating
    async def get(self, owner_id: UUID, key: str) -> IdempotencyRecord | None:
        row = await self._rows.get_one_or_none(IdempotencyKeyRow.owner_id == owner_id, IdempotencyKeyRow.key == key)
        return None if row is None else idempotency_to_domain(row)

    @translating
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        values = idempotency_values(record)
        statement = insert_for(self._session, IdempotencyKeyRow).values(**values).on_conflict_do_update(
            index_elements=["owner_id", "key"],
            set_={name: values[name] for name in ("request_hash", "memory_id", "created_at")},
            where=IdempotencyKeyRow.created_at <= record.created_at - IDEMPOTENCY_TTL)
        if affected(await self._session.execute(statement)) == 1:
            return None
        return await self.get(record.owner_id, record.key)
