"""`memo reindex`: bring the vector index up to date from the database, in batches, resumable.

What is left to do is read from the index states each time (memories with no state for the current model, or
one of another model), in id order, so an interrupted run simply starts again where the last finished batch left
off, and a run after a change of embedding model re-embeds everything for the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from memo.application.index_memories import IndexMemories
from memo.application.ports import UnitOfWork

BATCH = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class ReindexMemories:
    uow: UnitOfWork
    indexer: IndexMemories

    async def remaining(self, owner_id: UUID, *, other_models: bool = True) -> int:
        async with self.uow:
            return len(await self.uow.index_states.stale(self.indexer.embedder.model, owner_id=owner_id,
                                                          limit=10_000_000, other_models=other_models))

    async def __call__(self, owner_id: UUID, *, other_models: bool = True,
                       progress: Callable[[int], None] = lambda _: None) -> int:
        """Index every memory of the owner the index lacks (with `other_models`, also those embedded by another
        model than the current one); how many were embedded."""
        model, after, embedded = self.indexer.embedder.model, None, 0
        while True:
            async with self.uow:
                batch = await self.uow.index_states.stale(model, owner_id=owner_id, after=after, limit=BATCH,
                                                          other_models=other_models)
            if not batch:
                return embedded
            embedded += await self.indexer.index_memories(owner_id, batch)
            after = batch[-1]
            progress(len(batch))
