"""Reads of an owner's memories; every read is scoped by owner, so another owner's id is simply not found.

They go through `MemoryReads`, not a unit of work: a read takes no part in a transaction, so on the embedded
SQLite file it runs on a reader connection of its own (off the event loop when its cost has no bound) instead of
waiting for a turn of the one writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from memo.application.dto import MemoryQuery, Page
from memo.application.ports import MemoryReads
from memo.domain.errors import MemoryNotFound
from memo.domain.memory import Memory


@dataclass(frozen=True, slots=True, kw_only=True)
class GetMemory:
    reads: MemoryReads

    async def __call__(self, owner_id: UUID, memory_id: UUID) -> Memory:
        memory = await self.reads.get(owner_id, memory_id)
        if memory is None:
            raise MemoryNotFound
        return memory


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMemories:
    reads: MemoryReads

    async def __call__(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]:
        return await self.reads.find(owner_id, query)
