"""Delete one of the caller's own memories."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from memo.application.ports import Clock, IdGenerator, UnitOfWork
from memo.domain.errors import MemoryNotFound
from memo.domain.retrieval import delete_vectors_job


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteMemory:
    """The memory goes at once (search never returns it again: hits are read back from storage); its vector goes
    later, by a job committed with the delete, so an outage of the index never blocks a delete."""

    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator

    async def __call__(self, owner_id: UUID, memory_id: UUID) -> None:
        async with self.uow:
            if not await self.uow.memories.remove(owner_id, memory_id):
                raise MemoryNotFound
            await self.uow.outbox.enqueue(delete_vectors_job(owner_id, [memory_id], id=self.ids.new_id(),
                                                             now=self.clock.now()))
            await self.uow.commit()
