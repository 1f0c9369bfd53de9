"""The worker's indexing jobs: embed what changed, write it to the vector index, remember what the index holds.

Each write of a memory commits an index job with it, so a memory is never lost to an AI or vector outage: the
job fails, backs off and runs again until the index has it. The order is embed -> upsert -> record the state; a
crash between the upsert and the state only means the next attempt embeds again (upserts replace), never an
index that claims to hold what it does not. A memory whose text and filter fields the index already holds for
this model is skipped, so retries, duplicate jobs and metadata-only edits embed nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from memo.application.ports import Clock, Embedder, UnitOfWork, VectorIndex
from memo.domain.jobs import Job
from memo.domain.memory import Memory
from memo.domain.retrieval import IndexState, VectorEntry, content_hash, job_memory_ids

MAX_EMBED_CHARS = 8_000  # a memory holds up to 10,000 characters; models read far fewer tokens than that anyway


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexMemories:
    uow: UnitOfWork
    embedder: Embedder
    index: VectorIndex
    clock: Clock

    async def __call__(self, job: Job) -> None:
        owner_id, memory_ids = job_memory_ids(job)
        await self.index_memories(owner_id, memory_ids)

    async def index_memories(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> int:
        """Bring the index up to date with these memories of the owner; how many were embedded."""
        async with self.uow:
            memories = await self.uow.memories.get_many(owner_id, memory_ids)
            states = await self.uow.index_states.get_many([memory.id for memory in memories])
        model = self.embedder.model
        todo = [memory for memory in memories
                if (state := states.get(memory.id)) is None or not state.holds(memory, model)]
        if not todo:
            return 0
        vectors = await self.embedder.embed([memory.content[:MAX_EMBED_CHARS] for memory in todo])
        await self.index.upsert([_entry(memory, vector) for memory, vector in zip(todo, vectors, strict=True)])
        now = self.clock.now()
        async with self.uow:
            await self.uow.index_states.save([
                IndexState(memory_id=memory.id, owner_id=owner_id, model=model, content_hash=content_hash(memory),
                           memory_version=memory.version, indexed_at=now) for memory in todo])
            await self.uow.commit()
        return len(todo)


def _entry(memory: Memory, vector: Sequence[float]) -> VectorEntry:
    return VectorEntry(memory_id=memory.id, owner_id=memory.owner_id, vector=vector, type=memory.type,
                       tags=memory.tags, source=memory.source, created_at=memory.created_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteVectors:
    """The vectors of deleted memories; their index states went with the memories."""

    index: VectorIndex

    async def __call__(self, job: Job) -> None:
        owner_id, memory_ids = job_memory_ids(job)
        await self.index.delete(owner_id, memory_ids)
