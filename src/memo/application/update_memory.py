"""Partial update with optimistic concurrency: the stored version is the only lock."""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.dto import UpdateMemoryCommand
from memo.application.ports import Clock, IdGenerator, UnitOfWork
from memo.domain.errors import MemoryNotFound, ValidationFailed, VersionConflict
from memo.domain.memory import Memory
from memo.domain.retrieval import content_hash, index_job

UNCONDITIONAL_ATTEMPTS = 10  # without If-Match the caller asked for last-writer-wins: retry a lost race


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMemory:
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator

    async def __call__(self, command: UpdateMemoryCommand) -> Memory:
        if all(value is None for value in (command.content, command.type, command.tags, command.metadata)):
            raise ValidationFailed.single("body", "give at least one of content, type, tags or metadata")
        attempts = 1 if command.expected_version is not None else UNCONDITIONAL_ATTEMPTS
        for _ in range(attempts):
            async with self.uow:
                current = await self.uow.memories.get(command.owner_id, command.memory_id)
                if current is None:
                    raise MemoryNotFound
                if command.expected_version is not None and command.expected_version != current.version:
                    raise VersionConflict(current.version)
                revised = current.revise(content=command.content, type=command.type, tags=command.tags,
                                         metadata=command.metadata, now=self.clock.now())
                if await self.uow.memories.replace(revised, expected_version=current.version):
                    if content_hash(revised) != content_hash(current):  # what the index holds has changed
                        await self.uow.outbox.enqueue(index_job(revised.owner_id, [revised.id],
                                                                id=self.ids.new_id(), now=revised.updated_at))
                    await self.uow.commit()
                    return revised
        # another writer won every race (or the If-Match version went stale between read and write)
        async with self.uow:
            latest = await self.uow.memories.get(command.owner_id, command.memory_id)
        if latest is None:
            raise MemoryNotFound
        raise VersionConflict(latest.version)
