"""Reads of a SQLite file run on reader connections of their own: on worker threads, never the event loop's; never
behind the writer's open turn; seeing every write once answered; a filtered list in one read transaction; and
unable to write (`memo.adapters.storage.sqlite_readers`)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import event
from sqlalchemy.util import await_

from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.sqlalchemy import create_engine
from memo.adapters.storage.sqlite_readers import (
    INLINE_ROWS,
    SqliteReaders,
    SqliteReads,
    close_readers,
    readers_of,
)
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand, MemoryQuery
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from memo.domain.retrieval import SearchFilters
from tests.integration.conftest import SqlStorage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)


@pytest.fixture
async def storage(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[SqlStorage]:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    storage = SqlStorage("sqlite", create_engine(f"sqlite+aiosqlite:///{path}"))
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
        await uow.commit()
    yield storage
    await storage.close()


def readers(storage: SqlStorage) -> SqliteReaders:
    found = readers_of(storage.engine)
    assert found is not None
    return found


def traced(readers: SqliteReaders) -> list[tuple[str, int]]:
    """Every statement the reader connections opened from now on run, with the thread that ran it."""
    seen: list[tuple[str, int]] = []

    def trace(dbapi_connection: Any, _record: object) -> None:
        def record(statement: str) -> None:
            seen.append((statement, threading.get_ident()))

        await_(dbapi_connection.driver_connection.set_trace_callback(record))

    for engine in (readers.engine, readers.inline):
        event.listen(engine.sync_engine, "connect", trace)
    return seen


def memory(ids: SequentialIds, content: str, *, tags: tuple[str, ...] = ()) -> Memory:
    return Memory.create(id=ids.new_id(), owner_id=ALICE, content=content, type=MemoryType.NOTE, tags=tags,
                         now=TEST_NOW)


async def stored(storage: SqlStorage, *memories: Memory) -> None:
    async with storage.uow() as uow:
        for each in memories:
            await uow.memories.add(each)
        await uow.commit()


async def test_reads_of_unbounded_cost_run_on_a_worker_thread_never_the_event_loops(storage: SqlStorage) -> None:
    ids = SequentialIds(start=10)
    plumber = memory(ids, "call the plumber about the sink", tags=("home",))
    await stored(storage, plumber, memory(ids, "buy milk"))
    seen = traced(readers(storage))
    reads = storage.reads()

    assert [each.id for each in (await reads.find(ALICE, MemoryQuery(search="plumber"))).items] == [plumber.id]
    assert (await reads.find(ALICE, MemoryQuery(tags=("home",)))).total == 1
    assert [hit.memory_id for hit in await reads.rank(ALICE, "plumber", filters=SearchFilters(), limit=5)] == [
        plumber.id]
    assert await reads.get_many(ALICE, [plumber.id]) == [plumber]
    assert (await reads.find(ALICE, MemoryQuery(offset=INLINE_ROWS))).total == 2  # a page past the inline bound

    statements = [statement for statement, _ in seen]
    assert any("memories_fts MATCH" in statement for statement in statements)  # the full-text ones too
    assert sum("memory_counts" in statement for statement in statements) == 2  # the deep page and its count
    loop_thread = threading.get_ident()
    assert {thread for _, thread in seen}.isdisjoint({loop_thread})


async def test_a_get_and_a_first_page_run_inline_on_a_reader_connection_not_the_writers(
        storage: SqlStorage) -> None:
    ids = SequentialIds(start=15)
    note = memory(ids, "buy milk")
    await stored(storage, note)
    seen = traced(readers(storage))
    reads = storage.reads()

    assert await reads.get(ALICE, note.id) == note
    assert (await reads.find(ALICE, MemoryQuery(offset=INLINE_ROWS - 20, limit=20))).total == 1

    assert len([statement for statement, _ in seen if not statement.startswith("PRAGMA")]) == 3  # one page's
    assert {thread for _, thread in seen} == {threading.get_ident()}  # two statements, and the count on its own


async def test_a_read_does_not_wait_for_the_writers_open_turn_nor_see_its_writes(storage: SqlStorage) -> None:
    ids = SequentialIds(start=20)
    kept, pending = memory(ids, "already kept"), memory(ids, "not committed yet")
    await stored(storage, kept)
    writer = writer_of(storage.engine)
    assert writer is not None
    reads = storage.reads()

    async with SqliteUnitOfWork(writer) as uow:  # the writer's turn stays open over the reads
        await uow.memories.add(pending)
        await uow.commit()  # released within the group's transaction, which commits only once the block is left

        assert await asyncio.wait_for(reads.get(ALICE, kept.id), 5) == kept
        assert await asyncio.wait_for(reads.get(ALICE, pending.id), 5) is None
        assert (await asyncio.wait_for(reads.find(ALICE, MemoryQuery()), 5)).total == 1

    assert await reads.get(ALICE, pending.id) == pending
    assert (await reads.find(ALICE, MemoryQuery())).total == 2


async def test_a_create_once_answered_is_read_by_the_very_next_request(storage: SqlStorage) -> None:
    reads = storage.reads()
    create = CreateMemory(uow=storage.uow(), clock=FixedClock(), ids=SequentialIds(start=30))
    for n in range(20):
        made = await create(CreateMemoryCommand(owner_id=ALICE, content=f"note {n}"))

        assert await reads.get(ALICE, made.memory.id) == made.memory
        assert (await reads.find(ALICE, MemoryQuery())).total == n + 1


async def test_a_filtered_list_counts_and_pages_in_one_read_transaction(storage: SqlStorage) -> None:
    ids = SequentialIds(start=40)
    await stored(storage, *(memory(ids, f"paint the hall {n}", tags=("home",)) for n in range(3)))
    seen = traced(readers(storage))

    page = await storage.reads().find(ALICE, MemoryQuery(tags=("home",), limit=2))

    assert (page.total, len(page.items)) == (3, 2)
    statements = [statement.split()[0].upper() for statement, _ in seen if not statement.startswith("PRAGMA")]
    assert statements[0] == "BEGIN"
    assert statements[-1] == "ROLLBACK"
    assert statements[1:-1] == ["SELECT", "SELECT"]  # the count and the page, both inside it


async def test_a_reader_connection_refuses_to_write(storage: SqlStorage) -> None:
    async with readers(storage).driver() as driver:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await driver.execute("DELETE FROM owners")

    assert (await storage.reads().find(ALICE, MemoryQuery())).total == 0  # and the owner is still there to list


async def test_reads_of_an_engine_with_no_file_go_through_its_unit_of_work() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert readers_of(engine) is None
    finally:
        await close_readers(engine)
        await engine.dispose()


async def test_closing_the_readers_closes_their_connections_and_a_later_read_opens_new_ones(
        storage: SqlStorage) -> None:
    before = readers(storage)
    await SqliteReads(before).find(ALICE, MemoryQuery())  # inline
    await SqliteReads(before).find(ALICE, MemoryQuery(search="milk"))  # on a thread
    pools = [before.inline.sync_engine.pool, before.engine.sync_engine.pool]
    opened = [(pool.checkedout(), pool.checkedin()) for pool in pools]  # type: ignore[attr-defined]
    assert opened == [(1, 0), (0, 1)]  # the inline one held, the threaded one back in its pool

    await close_readers(storage.engine)

    assert [(pool.checkedout(), pool.checkedin()) for pool in pools] == [(0, 0), (0, 0)]  # type: ignore[attr-defined]
    assert readers(storage) is not before  # a new pool, made on first use
    assert (await storage.reads().find(ALICE, MemoryQuery())).total == 0


async def test_a_failed_inline_read_drops_the_held_connection_and_the_next_read_opens_another(
        storage: SqlStorage) -> None:
    ids = SequentialIds(start=50)
    note = memory(ids, "buy milk")
    await stored(storage, note)
    found = readers(storage)
    pool = found.inline.sync_engine.pool
    assert await storage.reads().get(ALICE, note.id) == note
    assert pool.checkedout() == 1  # type: ignore[attr-defined]

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        async with found.driver(inline=True) as driver:
            await driver.execute_fetchall("SELECT * FROM no_such_table")

    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await storage.reads().get(ALICE, note.id) == note
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
