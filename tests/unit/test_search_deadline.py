"""A stalled embedder or index never stalls a search: past the deadline, hybrid answers from keywords."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import pytest

from memo.adapters.embedding.fake import HashingEmbedder
from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.system import TEST_NOW
from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.application.errors import VectorIndexUnavailable
from memo.application.search_memories import SearchCommand, SearchMemories
from memo.domain.memory import Memory, MemoryType
from memo.domain.retrieval import SearchMode

OWNER = UUID(int=7)


class StalledEmbedder(HashingEmbedder):
    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        await asyncio.sleep(30)
        return await super().embed(texts)


@pytest.fixture
def search() -> SearchMemories:
    store = InMemoryStore()
    memory = Memory.create(id=UUID(int=1), owner_id=OWNER, content="Dentist on Friday", type=MemoryType.NOTE,
                           now=TEST_NOW)
    store.memories[memory.id] = memory
    uow = InMemoryUnitOfWork(store)
    return SearchMemories(reads=UnitOfWorkReads(uow), uow=uow, embedder=StalledEmbedder(), index=InMemoryVectorIndex(),
                          vector_deadline_s=0.05)


async def test_hybrid_answers_from_keywords_once_the_vector_deadline_passes(search: SearchMemories) -> None:
    result = await asyncio.wait_for(search(SearchCommand(owner_id=OWNER, query="dentist")), 5)

    assert [hit.memory.content for hit in result.hits] == ["Dentist on Friday"]
    assert result.degraded_reason is not None
    assert "0.05 s" in result.degraded_reason


async def test_semantic_is_unavailable_once_the_vector_deadline_passes(search: SearchMemories) -> None:
    with pytest.raises(VectorIndexUnavailable, match="did not answer"):
        await asyncio.wait_for(search(SearchCommand(owner_id=OWNER, query="dentist", mode=SearchMode.SEMANTIC)), 5)
