"""Delete one of the caller's own memories."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from memo.application.ports import UnitOfWork
from memo.domain.errors import MemoryNotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteMemory:
    uow: UnitOfWork

    async def __call__(self, owner_id: UUID, memory_id: UUID) -> None:
        async with self.uow:
            if not await self.uow.memories.remove(owner_id, memory_id):
                raise MemoryNotFound
            await self.uow.commit()
