"""Create a memory; with an Idempotency-Key, a retried request answers the memory the first one made."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from memo.application.dto import CreateMemoryCommand, CreateMemoryResult
from memo.application.ports import Clock, IdGenerator, UnitOfWork
from memo.domain.errors import IdempotencyConflict, MemoryNotFound
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.memory import Memory
from memo.domain.retrieval import index_job


def request_fingerprint(command: CreateMemoryCommand) -> str:
    """Hash what the caller asked for, so the same key with another body is told apart from a retry."""
    payload = {
        "content": command.content,
        "type": command.type.value,
        "tags": list(command.tags),
        "metadata": command.metadata,
        "source": command.source.value,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMemory:
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator

    async def __call__(self, command: CreateMemoryCommand) -> CreateMemoryResult:
        now = self.clock.now()
        memory = Memory.create(id=self.ids.new_id(), owner_id=command.owner_id, content=command.content,
                               type=command.type, tags=command.tags, metadata=command.metadata,
                               source=command.source, now=now)
        async with self.uow:
            if command.idempotency_key is not None:
                fingerprint = request_fingerprint(command)
                record = await self.uow.idempotency.claim(IdempotencyRecord(
                    owner_id=command.owner_id, key=command.idempotency_key, request_hash=fingerprint,
                    memory_id=memory.id, created_at=now))
                if record is not None:
                    if record.request_hash != fingerprint:
                        raise IdempotencyConflict
                    earlier = await self.uow.memories.get(command.owner_id, record.memory_id)
                    if earlier is None:  # made, then deleted: replaying must not resurrect it
                        raise MemoryNotFound
                    return CreateMemoryResult(memory=earlier, created=False)
            await self.uow.memories.add(memory)
            await self.uow.outbox.enqueue(index_job(memory.owner_id, [memory.id], id=self.ids.new_id(), now=now))
            await self.uow.commit()
        return CreateMemoryResult(memory=memory, created=True)
