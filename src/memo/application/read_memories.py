"""Reads of an owner's memories; every read is scoped by owner, so another owner's id is simply not found."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from memo.application.dto import MemoryQuery, Page
from memo.application.ports import UnitOfWork
from memo.domain.errors import MemoryNotFound
from memo.domain.memory import Memory


@dataclass(frozen=True, slots=True, kw_only=True)
class GetMemory:
    uow: UnitOfWork

    async def __call__(self, owner_id: UUID, memory_id: UUID) -> Memory:
        async with self.uow:
            memory = await self.uow.memories.get(owner_id, memory_id)
        if memory is None:
            raise MemoryNotFound
        return memory


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMemories:
    uow: UnitOfWork

    async def __call__(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        async with self.uow:
            return await self.uow.memories.find(owner_id, query)
