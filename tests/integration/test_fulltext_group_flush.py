"""SQLite's full-text entries of a group commit's new memories: written once, just before its COMMIT (migration 0014).

What is pinned: a group's creates are indexed by one statement into one FTS5 segment; every memory is found by
search and by keyword rank as soon as its create returns; whatever a group does to its own new memories and to
older ones (updates, deletes, a failed unit of work), the index is exactly the one a rebuild from `memories` makes;
writers other than the process's writer index at once; a writer on a file before 0014 indexes as before.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.sqlite_writer import SqliteWriter, writer_of
from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.migrate import downgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.adapters.system import SystemClock, UuidV7Ids
from memo.application.create_memory import CreateMemory
from memo.application.delete_memory import DeleteMemory
from memo.application.dto import CreateMemoryCommand, MemoryQuery, UpdateMemoryCommand
from memo.application.ports import UnitOfWork
from memo.application.read_memories import ListMemories
from memo.application.update_memory import UpdateMemory
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from memo.domain.retrieval import SearchFilters

CLOCK, IDS = SystemClock(), UuidV7Ids()
_FULL_TEXT = importlib.import_module("memo.adapters.storage.migrations.versions.0002_full_text_search")


class Boom(Exception):
    pass


# --- what the index holds, against what a rebuild from `memories` would hold ----------------------------------------

@dataclass(frozen=True, slots=True)
class IndexState:
    words: list[tuple[Any, ...]]  # (term, rowid, column, offset): every word of every indexed document
    sizes: list[tuple[Any, ...]]  # each document's length, which keyword rank normalises by
    totals: bytes  # the documents' and tokens' counts, from which keyword rank takes its averages


def _state(database: sqlite3.Connection, schema: str, table: str) -> IndexState:  # names of this module's own
    database.execute(f"CREATE VIRTUAL TABLE temp.{table}_words USING fts5vocab({schema}, '{table}', 'instance')")
    words = database.execute(f"SELECT term, doc, col, offset FROM temp.{table}_words "  # noqa: S608
                             f"ORDER BY 1, 2, 3, 4").fetchall()
    sizes = database.execute(f"SELECT id, sz FROM {schema}.{table}_docsize ORDER BY id").fetchall()  # noqa: S608
    (totals,) = database.execute(f"SELECT block FROM {schema}.{table}_data WHERE id = 1").fetchone()  # noqa: S608
    return IndexState(words=words, sizes=sizes, totals=totals)


def index_and_rebuild(path: Path) -> tuple[IndexState, IndexState]:
    """The stored index and one built afresh from `memories` with 0002's tokenizer and indexed content."""
    with sqlite3.connect(path) as database:
        database.execute("INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', 0)")
        database.execute(f"CREATE VIRTUAL TABLE temp.rebuilt USING fts5(content, content='', "
                         f'tokenize="{_FULL_TEXT.FTS5_TOKENIZER}")')
        database.execute(f"INSERT INTO temp.rebuilt (rowid, content) SELECT memory_rowids.rowid, "  # noqa: S608
                         f"{_FULL_TEXT.SQLITE_INDEXED_CONTENT.format('memories')} "
                         f"FROM memory_rowids JOIN memories ON memories.id = memory_rowids.memory_id")
        return _state(database, "main", "memories_fts"), _state(database, "temp", "rebuilt")


def assert_index_is_rebuilt_one(path: Path) -> None:
    stored, rebuilt = index_and_rebuild(path)
    assert stored.words == rebuilt.words
    assert stored.sizes == rebuilt.sizes
    assert stored.totals == rebuilt.totals


def assert_index_is_exact(path: Path) -> None:
    """The index a rebuild would make, nothing left pending, and one rowid per memory."""
    assert_index_is_rebuilt_one(path)
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT count(*) FROM memories_fts_pending").fetchone() == (0,)
        assert database.execute("SELECT count(*) FROM memories_fts_deferral").fetchone() == (0,)
        assert database.execute("SELECT count(*) FROM memory_rowids").fetchone() == \
            database.execute("SELECT count(*) FROM memories").fetchone()


def segments(path: Path) -> int:
    with sqlite3.connect(path) as database:
        (count,) = database.execute("SELECT count(DISTINCT segid) FROM memories_fts_idx").fetchone()
        return int(count)


def matching(path: Path, phrase: str) -> int:
    with sqlite3.connect(path) as database:
        (count,) = database.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?",
                                    (f'"{phrase}"',)).fetchone()
        return int(count)


# --- a SQLite file, its writer, and groups of units of work -----------------------------------------------------------

@dataclass
class Database:
    path: Path
    engine: AsyncEngine
    owner: UUID

    @property
    def writer(self) -> SqliteWriter:
        writer = writer_of(self.engine)
        assert writer is not None
        return writer

    def uow(self) -> UnitOfWork:
        return SqliteUnitOfWork(self.writer)

    async def create(self, content: str) -> Memory:
        command = CreateMemoryCommand(owner_id=self.owner, content=content)
        return (await CreateMemory(uow=self.uow(), clock=CLOCK, ids=IDS)(command)).memory

    async def update(self, memory_id: UUID, content: str) -> None:
        command = UpdateMemoryCommand(owner_id=self.owner, memory_id=memory_id, content=content)
        await UpdateMemory(uow=self.uow(), clock=CLOCK, ids=IDS)(command)

    async def delete(self, memory_id: UUID) -> None:
        await DeleteMemory(uow=self.uow(), clock=CLOCK, ids=IDS)(self.owner, memory_id)

    async def add(self, memory: Memory, *, then_fail: bool = False) -> None:
        async with self.uow() as uow:
            await uow.memories.add(memory)
            if then_fail:
                raise Boom
            await uow.commit()

    def memory(self, content: str) -> Memory:
        return Memory.create(id=IDS.new_id(), owner_id=self.owner, content=content, type=MemoryType.NOTE,
                             now=CLOCK.now())

    async def in_one_group(self, *steps: Awaitable[object]) -> list[object]:
        """Run the steps' units of work as turns of one group, in order (the writer's lock is first come, first
        served), and return what each returned or raised."""
        commits = self.writer.commits
        results = await asyncio.gather(*steps, return_exceptions=True)
        assert self.writer.commits == commits + 1  # one group: one COMMIT held them all
        return list(results)

    async def pending_now(self) -> tuple[int, int]:
        """(deferral rows, pending memories) in the writer's open transaction, from a turn of its own."""
        async with self.writer.turn(savepoint=False):
            driver = self.writer.driver
            found = []
            for table in ("memories_fts_deferral", "memories_fts_pending"):
                cursor = await driver.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - ours
                found.append((await cursor.fetchone() or (0,))[0])
            return found[0], found[1]


async def open_database(path: Path) -> Database:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    owner = Owner.create(id=IDS.new_id(), name="grouped", now=CLOCK.now())
    writer = writer_of(engine)
    assert writer is not None
    async with SqliteUnitOfWork(writer) as uow:
        await uow.owners.add(owner)
        await uow.commit()
    return Database(path=path, engine=engine, owner=owner.id)


@pytest.fixture
async def database(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Database]:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    with sqlite3.connect(path) as connection:  # every flush stays a segment of its own, to be counted
        connection.execute("INSERT INTO memories_fts (memories_fts, rank) VALUES ('automerge', 0)")
    opened = await open_database(path)
    try:
        yield opened
    finally:
        await opened.writer.aclose()
        await opened.engine.dispose()


async def committed_search(database: Database, text: str) -> list[UUID]:
    """The list's `search` (fulltext.py) on a connection of the pool: what is committed, and only that."""
    async with AsyncSession(database.engine, expire_on_commit=False) as session:
        page = await ListMemories(uow=SqlAlchemyUnitOfWork(session))(database.owner, MemoryQuery(search=text))
    return [memory.id for memory in page.items]


async def committed_rank(database: Database, text: str) -> list[UUID]:
    """Keyword rank (keyword_rank.py), as search and ask use it, on a connection of the pool."""
    async with AsyncSession(database.engine, expire_on_commit=False) as session, \
            SqlAlchemyUnitOfWork(session) as uow:
        hits = await uow.memories.rank(database.owner, text, filters=SearchFilters(), limit=10)
    return [hit.memory_id for hit in hits]


# --- the tests -------------------------------------------------------------------------------------------------------

async def test_a_groups_creates_are_indexed_by_one_flush_into_one_segment_before_its_commit(
        database: Database) -> None:
    before = segments(database.path)
    creates = [database.create(f"grouped note number {n}") for n in range(12)]

    # the group's first turn runs before the others have started: the creates after it find it open
    first, *made, last = await database.in_one_group(database.pending_now(), *creates, database.pending_now())

    assert first == (0, 0)
    assert last == (1, 12)  # none of them had an entry yet: the flush writes all twelve
    assert segments(database.path) == before + 1
    assert matching(database.path, "grouped note") == 12
    assert all(isinstance(memory, Memory) for memory in made)
    assert_index_is_exact(database.path)


async def test_every_create_is_found_by_search_and_by_rank_as_soon_as_it_returns(database: Database) -> None:
    async def create_then_search(n: int) -> tuple[UUID, list[UUID], list[UUID]]:
        memory = await database.create(f"racing create word{n}x")  # what a 201 is sent after
        return memory.id, await committed_search(database, f"word{n}x"), await committed_rank(database, f"word{n}x")

    commits = database.writer.commits
    found = await asyncio.gather(*(create_then_search(n) for n in range(40)))

    assert database.writer.commits - commits < 40  # they were grouped, so entries were deferred
    for memory_id, searched, ranked in found:
        assert searched == [memory_id]
        assert ranked == [memory_id]
    assert_index_is_exact(database.path)


async def test_updates_and_deletes_in_a_group_leave_the_index_as_a_rebuild_would(database: Database) -> None:
    kept, changed, removed, doomed = [await database.create(text)
                                      for text in ("older kept", "older changed", "older removed", "older doomed")]
    fresh, fresh_changed, fresh_removed, fresh_churned, failed, last = (
        database.memory(text) for text in ("fresh kept", "fresh draft", "fresh removed", "fresh churned",
                                           "fresh failed", "fresh last"))

    results = await database.in_one_group(
        database.pending_now(),
        database.add(fresh), database.add(fresh_changed), database.add(fresh_removed), database.add(fresh_churned),
        database.add(failed, then_fail=True),
        database.update(fresh_changed.id, "fresh edited once"), database.update(fresh_changed.id, "fresh final"),
        database.delete(fresh_removed.id),
        database.update(fresh_churned.id, "fresh churned again"), database.delete(fresh_churned.id),
        database.add(last),  # takes the rowid of the last one removed, as SQLite gives the highest plus one
        database.update(changed.id, "older revised"), database.delete(removed.id),
        database.update(doomed.id, "older revised then removed"), database.delete(doomed.id),
        database.pending_now(),
    )

    assert isinstance(results[5], Boom)
    assert [result for result in results if isinstance(result, BaseException)] == [results[5]]
    assert results[-1] == (1, 3)  # fresh, fresh_changed, last: the removed and the failed left nothing behind
    assert_index_is_exact(database.path)
    assert await committed_search(database, "fresh") == [last.id, fresh_changed.id, fresh.id]
    assert await committed_search(database, "final") == [fresh_changed.id]
    for gone in ("draft", "edited", "removed", "churned", "failed", "doomed", "changed"):
        assert await committed_search(database, gone) == [], gone
    assert await committed_search(database, "older") == [changed.id, kept.id]
    assert await committed_search(database, "revised") == [changed.id]


async def test_a_memory_updated_in_a_deferring_group_stays_found_by_either_content(database: Database) -> None:
    older = await database.create("milk and bread")

    async def search_in_the_group() -> list[UUID]:
        page = await ListMemories(uow=database.uow())(database.owner, MemoryQuery(search="milk"))
        return [memory.id for memory in page.items]

    *_, (deferral, _), found = await database.in_one_group(
        database.create("something else"), database.update(older.id, "milk and eggs"), database.pending_now(),
        search_in_the_group())

    assert deferral == 1
    assert found == [older.id]  # an indexed memory is re-indexed at once, never left without an entry
    assert_index_is_exact(database.path)


async def test_writes_outside_the_writer_are_indexed_in_their_own_statement(database: Database) -> None:
    async with AsyncSession(database.engine, expire_on_commit=False) as session, \
            SqlAlchemyUnitOfWork(session) as uow:  # a Core session of its own, as tools and tests write
        await uow.memories.add_many([database.memory(f"core session note {n}") for n in range(3)])
        await uow.commit()
    with sqlite3.connect(database.path) as other:  # another program altogether
        other.execute("PRAGMA foreign_keys=ON")
        other.execute("INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, "
                      "updated_at, version) VALUES (?, ?, 'another program wrote this', 'note', '[]', '{}', 'api', "
                      "'2026-12-11 10:00:00.000000', '2026-12-11 10:00:00.000000', 1)",
                      (IDS.new_id().bytes, database.owner.bytes))

    assert len(await committed_search(database, "core session")) == 3
    assert len(await committed_search(database, "another program")) == 1
    assert_index_is_exact(database.path)


def test_sqlite_refuses_to_commit_while_indexing_is_deferred(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA foreign_keys=ON")  # as every connection of Memo's engine
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO memories_fts_deferral (id) VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            connection.execute("COMMIT")
        connection.execute("ROLLBACK")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute("INSERT INTO memories_fts_deferral (id) VALUES (2)")


async def test_a_writer_on_a_file_before_0014_indexes_every_memory_at_once(tmp_path: Path,
                                                                          sqlite_template: Path) -> None:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    await downgrade(f"sqlite+aiosqlite:///{path}", "0013")
    older = await open_database(path)
    try:
        made = await older.in_one_group(*(older.create(f"before the flush number {n}") for n in range(8)))
        assert all(isinstance(memory, Memory) for memory in made)
        assert matching(path, "before the flush") == 8
        assert_index_is_rebuilt_one(path)
    finally:
        await older.writer.aclose()
        await older.engine.dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master WHERE name LIKE 'memories_fts_%' AND type = "
                                  "'table' AND name IN ('memories_fts_pending', 'memories_fts_deferral')"
                                  ).fetchall() == []
