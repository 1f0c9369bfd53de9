"""`MemoryReads` through a unit of work, one block a read: for stores whose units of work never queue behind one
another (in memory; PostgreSQL, where each request has a session and a connection of its own)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from memo.application.dto import MemoryQuery, Page
from memo.application.ports import MemoryReads, UnitOfWork
from memo.domain.memory import Memory
from memo.domain.retrieval import Hit, SearchFilters


class UnitOfWorkReads(MemoryReads):
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None:
        async with self._uow:
            return await self._uow.memories.get(owner_id, memory_id)

    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        async with self._uow:
            return await self._uow.memories.find(owner_id, query)

    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        async with self._uow:
            return await self._uow.memories.get_many(owner_id, memory_ids)

    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        async with self._uow:
            return await self._uow.memories.rank(owner_id, text, filters=filters, limit=limit)
