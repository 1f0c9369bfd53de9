"""Use cases called directly with in-memory adapters and a fixed clock: no container, no I/O."""

from __future__ import annotations

from uuid import uuid4

import pytest

from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.system import FixedClock, SequentialIds
from memo.application.create_memory import CreateMemory
from memo.application.delete_memory import DeleteMemory
from memo.application.dto import MemoryQuery, UpdateMemoryCommand
from memo.application.read_memories import GetMemory, ListMemories
from memo.application.update_memory import UpdateMemory
from memo.domain.errors import IdempotencyConflict, MemoryNotFound, ValidationFailed, VersionConflict
from memo.domain.memory import MemoryType
from tests.factories import CreateMemoryCommandFactory

OWNER = uuid4()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def create(store: InMemoryStore, clock: FixedClock) -> CreateMemory:
    return CreateMemory(uow=InMemoryUnitOfWork(store), clock=clock, ids=SequentialIds())


def deleter(store: InMemoryStore) -> DeleteMemory:
    return DeleteMemory(uow=InMemoryUnitOfWork(store), clock=FixedClock(), ids=SequentialIds(start=900))


async def test_create_memory_commits_the_normalised_memory(store: InMemoryStore, create: CreateMemory) -> None:
    result = await create(CreateMemoryCommandFactory.build(owner_id=OWNER, content="  buy milk  ", tags=("A", "a")))
    assert result.created
    assert (result.memory.content, result.memory.tags) == ("buy milk", ("a",))
    assert await GetMemory(reads=UnitOfWorkReads(InMemoryUnitOfWork(store)))(OWNER, result.memory.id) == result.memory


async def test_invalid_memory_is_refused_before_anything_is_written(store: InMemoryStore,
                                                                    create: CreateMemory) -> None:
    with pytest.raises(ValidationFailed):
        await create(CreateMemoryCommandFactory.build(owner_id=OWNER, content=""))
    page = await ListMemories(reads=UnitOfWorkReads(InMemoryUnitOfWork(store)))(OWNER, MemoryQuery())
    assert page.total == 0


async def test_idempotent_retry_returns_the_first_memory_without_a_second_write(store: InMemoryStore,
                                                                                create: CreateMemory) -> None:
    command = CreateMemoryCommandFactory.build(owner_id=OWNER, idempotency_key="retry-1")
    first, second = await create(command), await create(command)
    assert (first.created, second.created) == (True, False)
    assert second.memory == first.memory
    assert (await ListMemories(reads=UnitOfWorkReads(InMemoryUnitOfWork(store)))(OWNER, MemoryQuery())).total == 1


async def test_idempotency_key_reused_with_another_body_conflicts(create: CreateMemory) -> None:
    await create(CreateMemoryCommandFactory.build(owner_id=OWNER, idempotency_key="k", content="a"))
    with pytest.raises(IdempotencyConflict):
        await create(CreateMemoryCommandFactory.build(owner_id=OWNER, idempotency_key="k", content="b"))


async def test_replaying_the_key_of_a_deleted_memory_does_not_resurrect_it(store: InMemoryStore,
                                                                          create: CreateMemory) -> None:
    command = CreateMemoryCommandFactory.build(owner_id=OWNER, idempotency_key="gone")
    made = await create(command)
    await deleter(store)(OWNER, made.memory.id)
    with pytest.raises(MemoryNotFound):
        await create(command)


async def test_update_with_stale_version_changes_nothing(store: InMemoryStore, create: CreateMemory,
                                                         clock: FixedClock) -> None:
    made = (await create(CreateMemoryCommandFactory.build(owner_id=OWNER))).memory
    update = UpdateMemory(uow=InMemoryUnitOfWork(store), clock=clock, ids=SequentialIds(start=800))
    await update(UpdateMemoryCommand(owner_id=OWNER, memory_id=made.id, content="second", expected_version=1))
    with pytest.raises(VersionConflict) as conflict:
        await update(UpdateMemoryCommand(owner_id=OWNER, memory_id=made.id, content="third", expected_version=1))
    assert conflict.value.current == 2
    assert (await GetMemory(reads=UnitOfWorkReads(InMemoryUnitOfWork(store)))(OWNER, made.id)).content == "second"


async def test_update_of_another_owners_memory_is_not_found(store: InMemoryStore, create: CreateMemory,
                                                            clock: FixedClock) -> None:
    made = (await create(CreateMemoryCommandFactory.build(owner_id=OWNER))).memory
    with pytest.raises(MemoryNotFound):
        await UpdateMemory(uow=InMemoryUnitOfWork(store), clock=clock, ids=SequentialIds(start=800))(
            UpdateMemoryCommand(owner_id=uuid4(), memory_id=made.id, type=MemoryType.REMINDER))


async def test_update_with_nothing_to_change_is_refused(store: InMemoryStore, clock: FixedClock) -> None:
    with pytest.raises(ValidationFailed):
        await UpdateMemory(uow=InMemoryUnitOfWork(store), clock=clock, ids=SequentialIds(start=800))(
            UpdateMemoryCommand(owner_id=OWNER, memory_id=uuid4()))


async def test_delete_of_a_missing_memory_is_not_found(store: InMemoryStore) -> None:
    with pytest.raises(MemoryNotFound):
        await deleter(store)(OWNER, uuid4())
