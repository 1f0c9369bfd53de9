"""The indexing jobs: what changed is embedded once, an outage is a retry, deletes take the vectors away."""

from __future__ import annotations

from uuid import UUID

import pytest

from memo.adapters.embedding.fake import HashingEmbedder
from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.application.errors import EmbedderUnavailable, VectorIndexUnavailable
from memo.application.index_memories import DeleteVectors, IndexMemories
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from memo.domain.retrieval import SearchFilters, delete_vectors_job, index_job

OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)


class World:
    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.store.owners[OWNER] = Owner.create(id=OWNER, name="anna", now=TEST_NOW)
        self.ids = SequentialIds(start=100)
        self.embedder = HashingEmbedder()
        self.index = InMemoryVectorIndex()
        self.clock = FixedClock()

    def indexer(self) -> IndexMemories:
        return IndexMemories(uow=InMemoryUnitOfWork(self.store), embedder=self.embedder, index=self.index,
                             clock=self.clock)

    def add(self, content: str) -> Memory:
        memory = Memory.create(id=self.ids.new_id(), owner_id=OWNER, content=content, type=MemoryType.NOTE,
                               now=TEST_NOW)
        self.store.memories[memory.id] = memory
        return memory

    async def run(self, *memories: Memory) -> None:
        await self.indexer()(index_job(OWNER, [memory.id for memory in memories], id=self.ids.new_id(),
                                       now=TEST_NOW))


@pytest.fixture
def world() -> World:
    return World()


async def test_an_index_job_embeds_its_memories_once_in_one_batch_and_records_what_it_holds(world: World) -> None:
    first, second = world.add("dentist on Friday"), world.add("milk and bread")

    await world.run(first, second)

    assert world.embedder.calls == [["dentist on Friday", "milk and bread"]]
    assert world.index.held(OWNER) == {first.id, second.id}
    state = world.store.index_states[first.id]
    assert (state.model, state.memory_version) == (world.embedder.model, 1)


async def test_a_memory_the_index_already_holds_is_not_embedded_again(world: World) -> None:
    memory = world.add("dentist on Friday")
    await world.run(memory)

    await world.run(memory)  # a retry, or a second job for the same write

    assert len(world.embedder.calls) == 1


async def test_a_changed_memory_is_embedded_again(world: World) -> None:
    memory = world.add("dentist on Friday")
    await world.run(memory)
    world.store.memories[memory.id] = memory.revise(content="dentist on Monday", now=TEST_NOW)

    await world.run(memory)

    assert world.embedder.calls[-1] == ["dentist on Monday"]


async def test_an_embedder_outage_fails_the_job_and_records_nothing(world: World) -> None:
    memory = world.add("dentist on Friday")
    world.embedder.available = False

    with pytest.raises(EmbedderUnavailable):
        await world.run(memory)

    assert world.store.index_states == {}
    assert world.index.held(OWNER) == frozenset()


async def test_an_index_outage_fails_the_job_and_the_retry_catches_up(world: World) -> None:
    memory = world.add("dentist on Friday")
    world.index.available = False
    with pytest.raises(VectorIndexUnavailable):
        await world.run(memory)
    assert world.store.index_states == {}

    world.index.available = True
    await world.run(memory)

    assert world.index.held(OWNER) == {memory.id}
    hits = await world.index.query(OWNER, world.embedder.vector("dentist on Friday"), limit=1,
                                   filters=SearchFilters())
    assert [hit.memory_id for hit in hits] == [memory.id]


async def test_a_job_for_a_deleted_memory_embeds_nothing(world: World) -> None:
    memory = world.add("dentist on Friday")
    del world.store.memories[memory.id]

    await world.run(memory)

    assert world.embedder.calls == []


async def test_a_delete_job_takes_the_vectors_away(world: World) -> None:
    memory = world.add("dentist on Friday")
    await world.run(memory)

    await DeleteVectors(index=world.index)(delete_vectors_job(OWNER, [memory.id], id=world.ids.new_id(),
                                                              now=TEST_NOW))

    assert world.index.held(OWNER) == frozenset()
