"""What the vector index holds for each memory, on SQL; on the unit of work's session like every repository."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import IndexStateRow, MemoryRow
from memo.adapters.storage.rows import insert_for
from memo.application.ports import IndexStateRepository
from memo.domain.retrieval import IndexState

_COLUMNS = tuple(IndexStateRow.__table__.c)


def _values(state: IndexState) -> dict[str, Any]:
    return {"memory_id": state.memory_id, "owner_id": state.owner_id, "model": state.model,
            "content_hash": state.content_hash, "memory_version": state.memory_version,
            "indexed_at": state.indexed_at}


class SqlAlchemyIndexStateRepository(IndexStateRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @translating
    async def get_many(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, IndexState]:
        if not memory_ids:
            return {}
        rows = await self._session.execute(select(*_COLUMNS).where(IndexStateRow.memory_id.in_(list(memory_ids))))
        return {row["memory_id"]: IndexState(**row) for row in rows.mappings()}

    @translating
    async def save(self, states: Sequence[IndexState]) -> None:
        for state in states:  # a handful per job; one statement each keeps the upsert plain on both dialects
            values = _values(state)
            insert = insert_for(self._session, IndexStateRow).values(**values)
            await self._session.execute(insert.on_conflict_do_update(
                index_elements=["memory_id"], set_={name: insert.excluded[name] for name in values
                                                    if name != "memory_id"}))

    @translating
    async def remove(self, memory_ids: Sequence[UUID]) -> None:
        if memory_ids:
            await self._session.execute(delete(IndexStateRow).where(IndexStateRow.memory_id.in_(list(memory_ids))))

    @translating
    async def stale(self, model: str, *, owner_id: UUID | None = None, after: UUID | None = None,
                    limit: int = 500, other_models: bool = True) -> Sequence[UUID]:
        held: ColumnElement[bool] = IndexStateRow.memory_id == MemoryRow.id
        if other_models:
            held = and_(held, IndexStateRow.model == model)
        statement = select(MemoryRow.id).outerjoin(IndexStateRow, held).where(IndexStateRow.memory_id.is_(None))
        if owner_id is not None:
            statement = statement.where(MemoryRow.owner_id == owner_id)
        if after is not None:
            statement = statement.where(MemoryRow.id > after)
        return list((await self._session.execute(statement.order_by(MemoryRow.id).limit(limit))).scalars())
