"""A list's `total` is exact on every store: the count SQLite keeps per owner (migration 0012) and the counted ones.

The unfiltered list on SQLite reads its total from `memory_counts`, which triggers move with every insert and
delete; every other list counts its matches. These tests hold both ways to the same answers as the in-memory store.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.application.dto import MemoryQuery, Page, SortField, SortOrder
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner

if TYPE_CHECKING:
    from tests.integration.conftest import Storage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)
CAROL = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_CA01)


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds(start=100)


@pytest.fixture
async def owners(storage: Storage) -> None:
    async with storage.uow() as uow:
        for owner_id, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
            await uow.owners.add(Owner.create(id=owner_id, name=name, now=TEST_NOW))
        await uow.commit()


def memory(ids: SequentialIds, n: int = 0, *, owner: UUID = ALICE, content: str = "a note",
           type: MemoryType = MemoryType.NOTE, tags: tuple[str, ...] = ()) -> Memory:  # noqa: A002
    return Memory.create(id=ids.new_id(), owner_id=owner, content=content, type=type, tags=tags, metadata=None,
                         now=TEST_NOW + timedelta(seconds=n))


async def store(storage: Storage, *memories: Memory) -> None:
    async with storage.uow() as uow:
        for each in memories:
            await uow.memories.add(each)
        await uow.commit()


async def remove(storage: Storage, owner: UUID, *memory_ids: UUID) -> None:
    async with storage.uow() as uow:
        for memory_id in memory_ids:
            await uow.memories.remove(owner, memory_id)
        await uow.commit()


async def page(storage: Storage, query: MemoryQuery, owner: UUID = ALICE) -> Page[Memory]:
    async with storage.uow() as uow:
        return await uow.memories.find(owner, query)


async def total(storage: Storage, owner: UUID = ALICE, **query: Any) -> int:
    return (await page(storage, MemoryQuery(**query), owner)).total


async def test_the_unfiltered_total_follows_every_create_and_delete_of_the_owner(
        storage: Storage, owners: None, ids: SequentialIds) -> None:
    alices = [memory(ids, n) for n in range(4)]
    assert await total(storage) == 0

    await store(storage, *alices[:3])
    assert await total(storage) == 3
    async with storage.uow() as uow:
        await uow.memories.add_many([alices[3], memory(ids, 9)])
        await uow.commit()
    assert await total(storage) == 5

    await remove(storage, ALICE, alices[0].id, alices[1].id)
    assert await total(storage) == 3
    await remove(storage, ALICE, alices[0].id)  # already gone: nothing more to take away
    assert await total(storage) == 3


async def test_another_owners_memories_are_never_in_the_total(
        storage: Storage, owners: None, ids: SequentialIds) -> None:
    alices = [memory(ids, n) for n in range(3)]
    bobs = [memory(ids, n, owner=BOB) for n in range(2)]
    await store(storage, *alices, *bobs)

    await remove(storage, ALICE, bobs[0].id)  # not Alice's to delete: it stays, and so do both counts
    assert (await total(storage), await total(storage, BOB), await total(storage, CAROL)) == (3, 2, 0)

    await remove(storage, BOB, bobs[0].id)
    assert (await total(storage), await total(storage, BOB)) == (3, 1)


async def test_a_rolled_back_create_or_delete_leaves_the_total_as_it_was(
        storage: Storage, owners: None, ids: SequentialIds) -> None:
    kept = memory(ids)
    await store(storage, kept)

    async with storage.uow() as uow:  # left without commit
        await uow.memories.add(memory(ids, 1))
        await uow.memories.add_many([memory(ids, 2), memory(ids, 3)])
    async with storage.uow() as uow:
        assert await uow.memories.remove(ALICE, kept.id)

    async def add_then_fail() -> None:
        async with storage.uow() as uow:
            await uow.memories.add(memory(ids, 4))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()
    async with storage.uow() as uow:  # committed, then written again: the second write goes
        await uow.memories.add(memory(ids, 5))
        await uow.commit()
        await uow.memories.add(memory(ids, 6))

    assert await total(storage) == 2
    assert [m.created_at for m in (await page(storage, MemoryQuery(sort_order=SortOrder.ASC))).items] == [
        TEST_NOW, TEST_NOW + timedelta(seconds=5)]


@pytest.mark.parametrize("sort_by", list(SortField))
@pytest.mark.parametrize("sort_order", list(SortOrder))
async def test_every_page_carries_the_whole_total_past_the_end_too(
        storage: Storage, owners: None, ids: SequentialIds, *, sort_by: SortField, sort_order: SortOrder) -> None:
    await store(storage, *(memory(ids, n) for n in range(5)), memory(ids, owner=BOB))

    pages = [await page(storage, MemoryQuery(limit=2, offset=offset, sort_by=sort_by, sort_order=sort_order))
             for offset in (0, 2, 4, 5, 50)]

    assert [(len(each.items), each.total) for each in pages] == [(2, 5), (2, 5), (1, 5), (0, 5), (0, 5)]
    assert (await page(storage, MemoryQuery(offset=3), owner=CAROL)).total == 0


async def test_an_owner_whose_memories_were_all_deleted_has_a_total_of_zero(
        storage: Storage, owners: None, ids: SequentialIds) -> None:
    memories = [memory(ids, n) for n in range(2)]
    await store(storage, *memories)

    await remove(storage, ALICE, *(m.id for m in memories))

    assert (await total(storage), await total(storage, offset=1)) == (0, 0)


async def test_filtered_totals_still_count_exactly_every_match(
        storage: Storage, owners: None, ids: SequentialIds) -> None:
    reminders = [memory(ids, n, type=MemoryType.REMINDER, tags=("home",), content="call the plumber")
                 for n in range(3)]
    notes = [memory(ids, 10 + n, tags=("home", "work"), content="plumber invoice") for n in range(4)]
    await store(storage, *reminders, *notes, memory(ids, owner=BOB, type=MemoryType.REMINDER, tags=("home",)))
    await remove(storage, ALICE, reminders[0].id, notes[0].id)
    after_first_note = notes[1].created_at - timedelta(milliseconds=1)

    assert await total(storage) == 5
    assert await total(storage, type=MemoryType.REMINDER) == 2
    assert await total(storage, tags=("home",)) == 5
    assert await total(storage, tags=("home", "work"), limit=1) == 3
    assert await total(storage, search="plumber") == 5
    assert await total(storage, search="call", offset=10) == 2
    assert await total(storage, created_after=after_first_note) == 3
    assert await total(storage, created_before=notes[1].created_at) == 2
    assert await total(storage, type=MemoryType.NOTE, search="invoice", tags=("work",)) == 3
