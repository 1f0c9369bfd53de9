"""A create on PostgreSQL: one statement in autocommit writes the memory, its tags and its jobs, all or nothing,
with the very rows the separate Core INSERTs write; a block that does more keeps its order and reads its writes
(`memo.adapters.storage.postgres_writes`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.storage.postgres_writes import HoldingSession, PostgresUnitOfWork
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from memo.domain.retrieval import index_job
from tests.integration.conftest import SqlStorage

pytestmark = pytest.mark.postgres

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
GONE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0DED)


class Writes:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.ids = SequentialIds(start=5_000)
        self.statements: list[str] = []
        self.isolation: list[str | None] = []  # each statement's connection's isolation level option
        self.begins = 0

    def uow(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(AsyncSession(self.engine, expire_on_commit=False, sync_session_class=HoldingSession))

    def core_uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(AsyncSession(self.engine, expire_on_commit=False))

    def memory(self, content: str = "a note", *, owner: UUID = ALICE, tags: tuple[str, ...] = ("home", "paint"),
               seconds: int = 1) -> Memory:
        return Memory.create(id=self.ids.new_id(), owner_id=owner, content=content, type=MemoryType.REMINDER,
                             tags=tags, metadata={"room": "hall", "n": 2}, now=TEST_NOW + timedelta(seconds=seconds))

    @contextmanager
    def watched(self) -> Iterator[None]:
        """Every statement sent, with its connection's isolation level, and every transaction the session began (an
        AUTOCOMMIT connection counts one too, but sends no BEGIN) on the engine while inside."""
        self.statements.clear()
        self.isolation.clear()
        self.begins = 0

        def sent(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            self.statements.append(statement)
            self.isolation.append(conn.get_execution_options().get("isolation_level"))

        def begun(_conn: Any) -> None:
            self.begins += 1

        event.listen(self.engine.sync_engine, "before_cursor_execute", sent)
        event.listen(self.engine.sync_engine, "begin", begun)
        try:
            yield
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", sent)
            event.remove(self.engine.sync_engine, "begin", begun)

    async def rows(self, sql: str, **values: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(text(sql), values)).mappings()]


@pytest.fixture
async def writes(postgres_url: str) -> AsyncIterator[Writes]:
    engine = create_engine(postgres_url)
    made = Writes(engine)
    async with made.core_uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice-writes", now=TEST_NOW))
        await uow.commit()
    try:
        yield made
    finally:
        await SqlStorage("postgresql", engine).close()  # empties every table for the next test, then disposes


async def test_a_create_is_one_statement_in_autocommit(writes: Writes) -> None:
    create = CreateMemory(uow=writes.uow(), clock=FixedClock(), ids=writes.ids)
    command = CreateMemoryCommand(owner_id=ALICE, content="buy paint", tags=("home",))
    with writes.watched():
        result = await create(command)
    assert len(writes.statements) == 1
    assert writes.statements[0].startswith("WITH memory AS (INSERT INTO memories")
    assert writes.isolation == ["AUTOCOMMIT"]
    assert [row["id"] for row in await writes.rows("SELECT id FROM memories")] == [result.memory.id]
    jobs = await writes.rows("SELECT kind, payload FROM jobs")
    assert [job["kind"] for job in jobs] == ["memory.index"]
    assert [row["tag"] for row in await writes.rows("SELECT tag FROM memory_tags")] == ["home"]


async def test_the_one_statement_stores_the_rows_the_separate_inserts_store(writes: Writes) -> None:
    held, core = writes.memory("same words", seconds=1), writes.memory("same words", seconds=2)
    for uow, memory in ((writes.uow(), held), (writes.core_uow(), core)):
        async with uow:
            await uow.memories.add(memory)
            await uow.outbox.enqueue(index_job(ALICE, [memory.id], id=writes.ids.new_id(), now=TEST_NOW))
            await uow.commit()

    def alike(rows: list[dict[str, Any]], *drop: str) -> list[dict[str, Any]]:
        return [{name: value for name, value in row.items() if name not in drop} for row in rows]

    memories = await writes.rows("SELECT * FROM memories ORDER BY created_at")
    assert len(memories) == 2
    assert alike(memories[:1], "id", "created_at", "updated_at") == alike(memories[1:], "id", "created_at",
                                                                         "updated_at")
    tags = await writes.rows("SELECT * FROM memory_tags ORDER BY memory_id, tag")
    assert alike(tags[:2], "memory_id") == alike(tags[2:], "memory_id")
    jobs = await writes.rows("SELECT * FROM jobs ORDER BY id")
    assert alike(jobs[:1], "id", "payload") == alike(jobs[1:], "id", "payload")
    assert [job["payload"] for job in jobs] == [{"memoryIds": [str(held.id)]}, {"memoryIds": [str(core.id)]}]
    deltas = await writes.rows("SELECT sum(total) AS total FROM memory_count_deltas WHERE owner_id = :o", o=ALICE)
    assert deltas == [{"total": 2}]


async def test_a_memory_without_tags_is_one_statement_too(writes: Writes) -> None:
    with writes.watched():
        async with writes.uow() as uow:
            await uow.memories.add(writes.memory(tags=()))
            await uow.commit()
    assert len(writes.statements) == 1
    assert "memory_tags" not in writes.statements[0]
    assert len(await writes.rows("SELECT id FROM memories")) == 1


async def test_a_create_for_an_owner_that_is_gone_writes_nothing_at_all(writes: Writes) -> None:
    uow, memory = writes.uow(), writes.memory(owner=GONE)
    async with uow:
        await uow.memories.add(memory)
        await uow.outbox.enqueue(index_job(GONE, [memory.id], id=writes.ids.new_id(), now=TEST_NOW))
        with pytest.raises(IntegrityError):
            await uow.commit()
    assert not uow.committed
    assert await writes.rows("SELECT id FROM memories") == []
    assert await writes.rows("SELECT id FROM jobs") == []
    assert await writes.rows("SELECT tag FROM memory_tags") == []


async def test_a_block_left_without_commit_writes_nothing(writes: Writes) -> None:
    with writes.watched():
        async with writes.uow() as uow:
            memory = writes.memory()
            await uow.memories.add(memory)
            await uow.outbox.enqueue(index_job(ALICE, [memory.id], id=writes.ids.new_id(), now=TEST_NOW))
    assert writes.statements == []
    assert await writes.rows("SELECT id FROM memories") == []
    assert await writes.rows("SELECT id FROM jobs") == []


async def test_a_block_that_reads_after_adding_reads_its_memory_and_keeps_its_order(writes: Writes) -> None:
    first, second = writes.memory("first", seconds=1), writes.memory("second", seconds=2)
    with writes.watched():
        async with writes.uow() as uow:
            await uow.memories.add(first)
            assert await uow.memories.get(ALICE, first.id) == first  # written in the transaction, then read
            await uow.memories.add(second)  # the transaction is open: straight to it
            await uow.outbox.enqueue(index_job(ALICE, [first.id, second.id], id=writes.ids.new_id(), now=TEST_NOW))
            await uow.commit()
    assert writes.begins == 1
    assert writes.statements[0].startswith("WITH memory AS")
    assert None in writes.isolation  # the session's own transaction: no AUTOCOMMIT connection
    found = await writes.rows("SELECT content FROM memories ORDER BY created_at")
    assert [row["content"] for row in found] == ["first", "second"]
    assert len(await writes.rows("SELECT id FROM jobs")) == 1


async def test_a_block_that_wrote_before_adding_writes_as_before_in_its_transaction(writes: Writes) -> None:
    create = CreateMemory(uow=writes.uow(), clock=FixedClock(), ids=writes.ids)
    command = CreateMemoryCommand(owner_id=ALICE, content="with a key", tags=(), idempotency_key="k-1")
    with writes.watched():
        result = await create(command)
    assert writes.begins == 1
    assert not any(statement.startswith("WITH memory AS") for statement in writes.statements)
    assert "AUTOCOMMIT" not in writes.isolation
    assert (await create(command)).memory == result.memory  # the retry answers the first memory
    assert len(await writes.rows("SELECT id FROM memories")) == 1
    assert len(await writes.rows("SELECT id FROM jobs")) == 1

