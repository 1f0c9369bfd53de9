"""Use cases racing each other: one idempotent create, one winner per version.

Only PostgreSQL runs them: there, two units of work really interleave on separate connections. The in-memory
store never awaits inside a unit of work and SQLite runs its statements inline on the event loop
(`sqlite_inline.py`), so racers on those run one after the other and the race cannot happen; their sequential
rules (a replayed key, a stale version) are pinned in tests/unit/test_memory_use_cases.py.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from memo.adapters.system import SystemClock, UuidV7Ids
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand, MemoryQuery, UpdateMemoryCommand
from memo.application.read_memories import ListMemories
from memo.application.update_memory import UpdateMemory
from memo.domain.errors import VersionConflict
from memo.domain.owners import Owner
from tests.integration.conftest import Storage

CLOCK, IDS = SystemClock(), UuidV7Ids()

pytestmark = pytest.mark.parametrize("storage", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                     indirect=True)


async def make_owner(storage: Storage) -> UUID:
    owner = Owner.create(id=IDS.new_id(), name=f"racer-{IDS.new_id().hex[:8]}", now=CLOCK.now())
    async with storage.uow() as uow:
        await uow.owners.add(owner)
        await uow.commit()
    return owner.id


@pytest.mark.parametrize("racers", [2, 8])
async def test_racing_creates_with_one_idempotency_key_make_one_memory(storage: Storage, racers: int) -> None:
    owner_id = await make_owner(storage)
    command = CreateMemoryCommand(owner_id=owner_id, content="only once", idempotency_key="race-1")
    results = await asyncio.gather(*(CreateMemory(uow=storage.uow(), clock=CLOCK, ids=IDS)(command)
                                     for _ in range(racers)))
    assert sum(result.created for result in results) == 1
    assert len({result.memory.id for result in results}) == 1
    assert (await ListMemories(reads=storage.reads())(owner_id, MemoryQuery())).total == 1


async def test_racing_updates_with_the_same_version_have_one_winner(storage: Storage) -> None:
    owner_id = await make_owner(storage)
    made = (await CreateMemory(uow=storage.uow(), clock=CLOCK, ids=IDS)(
        CreateMemoryCommand(owner_id=owner_id, content="version one"))).memory

    async def update(text: str) -> str:
        try:
            await UpdateMemory(uow=storage.uow(), clock=CLOCK, ids=IDS)(UpdateMemoryCommand(
                owner_id=owner_id, memory_id=made.id, content=text, expected_version=1))
        except VersionConflict:
            return "412"
        return "200"

    outcomes = await asyncio.gather(*(update(f"writer {n}") for n in range(4)))
    assert sorted(outcomes) == ["200", "412", "412", "412"]


async def test_racing_unconditional_updates_all_land_one_version_each(storage: Storage) -> None:
    owner_id = await make_owner(storage)
    made = (await CreateMemory(uow=storage.uow(), clock=CLOCK, ids=IDS)(
        CreateMemoryCommand(owner_id=owner_id, content="counter", metadata={}))).memory
    writers = 3
    results = await asyncio.gather(*(UpdateMemory(uow=storage.uow(), clock=CLOCK, ids=IDS)(UpdateMemoryCommand(
        owner_id=owner_id, memory_id=made.id, metadata={f"writer{n}": n})) for n in range(writers)))
    assert sorted(result.version for result in results) == [2, 3, 4]
    assert max(results, key=lambda result: result.version).metadata == {f"writer{n}": n for n in range(writers)}
