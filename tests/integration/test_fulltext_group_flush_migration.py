"""Migration 0014 up and down on a database with memories: every memory stays searchable, the index stays exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.migrate import downgrade, upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.adapters.system import SystemClock, UuidV7Ids
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner
from tests.integration.test_fulltext_group_flush import (
    assert_index_is_exact,
    assert_index_is_rebuilt_one,
    matching,
    open_database,
)

CLOCK, IDS = SystemClock(), UuidV7Ids()
FLUSH_TABLES = ("memories_fts_deferral", "memories_fts_pending")


def _full_text_sql(path: Path) -> dict[str, str]:
    """The SQL of every full-text trigger and table, by name."""
    with sqlite3.connect(path) as database:
        return dict(database.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'memories_fts%' "
                                     "AND type IN ('trigger', 'table')").fetchall())


async def _write_with_core(url: str, contents: list[str]) -> None:
    """Memories written as a tool would, on a session of its own (no writer, no group)."""
    engine = create_engine(url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, SqlAlchemyUnitOfWork(session) as uow:
            owner = Owner.create(id=IDS.new_id(), name=f"owner-{IDS.new_id().hex[-8:]}", now=CLOCK.now())
            await uow.owners.add(owner)
            await uow.memories.add_many([Memory.create(id=IDS.new_id(), owner_id=owner.id, content=content,
                                                       type=MemoryType.NOTE, now=CLOCK.now())
                                         for content in contents])
            await uow.commit()
    finally:
        await engine.dispose()


def _change_with_sqlite(path: Path) -> None:
    """Another program edits and deletes: the triggers of whichever revision is there keep the index."""
    with sqlite3.connect(path) as database:
        database.execute("UPDATE memories SET content = 'edited by another program' "
                         "WHERE content = 'before 0014, then edited'")
        database.execute("DELETE FROM memories WHERE content LIKE '%, then deleted'")


async def test_0014_up_and_down_keeps_every_memory_searchable(tmp_path: Path) -> None:
    path = tmp_path / "memo.db"
    url = f"sqlite+aiosqlite:///{path}"
    reference = tmp_path / "at-0013.db"
    await upgrade(f"sqlite+aiosqlite:///{reference}", "0013")
    await upgrade(url, "0013")
    await _write_with_core(url, ["before 0014", "before 0014, then edited", "before 0014, then deleted"])

    await upgrade(url, "0014")
    assert matching(path, "before 0014") == 3
    assert_index_is_exact(path)
    grouped = await open_database(path)
    try:
        made = await grouped.in_one_group(grouped.pending_now(), *(grouped.create(f"grouped at 0014 number {n}")
                                                                   for n in range(6)))
        assert made[0] == (0, 0)
        last = made[-1]
        assert isinstance(last, Memory)
        await grouped.in_one_group(grouped.pending_now(), grouped.create("grouped at 0014, then deleted"),
                                   grouped.update(last.id, "grouped at 0014 and edited"))
    finally:
        await grouped.writer.aclose()
        await grouped.engine.dispose()
    _change_with_sqlite(path)
    assert_index_is_exact(path)

    await downgrade(url, "0013")
    assert _full_text_sql(path) == _full_text_sql(reference)  # 0002's triggers, as 0002 wrote them
    assert_index_is_rebuilt_one(path)
    assert matching(path, "grouped at 0014") == 6
    assert matching(path, "and edited") == 1
    assert matching(path, "before 0014") == 1
    await _write_with_core(url, ["after 0014 went", "after 0014 went, then deleted"])
    _change_with_sqlite(path)
    assert_index_is_rebuilt_one(path)

    await upgrade(url, "0014")
    assert set(FLUSH_TABLES) <= set(_full_text_sql(path))
    assert matching(path, "after 0014 went") == 1
    assert_index_is_exact(path)


async def test_the_downgrade_indexes_a_memory_left_pending_by_a_writer_without_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "memo.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url, "0014")
    await _write_with_core(url, ["an indexed memory"])
    with sqlite3.connect(path) as database:  # foreign keys off: SQLite lets the deferral row be committed
        database.execute("INSERT INTO memories_fts_deferral (id) VALUES (1)")
        owner = database.execute("SELECT id FROM owners").fetchone()[0]
        database.execute("INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, "
                         "updated_at, version) VALUES (?, ?, 'left pending', 'note', '[]', '{}', 'api', "
                         "'2026-12-11 10:00:00.000000', '2026-12-11 10:00:00.000000', 1)",
                         (IDS.new_id().bytes, owner))
    assert matching(path, "left pending") == 0

    await downgrade(url, "0013")

    assert matching(path, "left pending") == 1
    assert matching(path, "an indexed memory") == 1
    assert_index_is_rebuilt_one(path)


async def test_a_writer_flushes_what_a_committed_deferral_row_left_pending(tmp_path: Path) -> None:
    path = tmp_path / "memo.db"
    await upgrade(f"sqlite+aiosqlite:///{path}", "0014")
    grouped = await open_database(path)
    try:
        with sqlite3.connect(path) as database:  # as in the test above: a tool that ran without foreign keys
            database.execute("INSERT INTO memories_fts_deferral (id) VALUES (1)")
            database.execute("INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, "
                             "created_at, updated_at, version) VALUES (?, ?, 'left pending', 'note', '[]', '{}', "
                             "'api', '2026-12-11 10:00:00.000000', '2026-12-11 10:00:00.000000', 1)",
                             (IDS.new_id().bytes, grouped.owner.bytes))
        await grouped.in_one_group(grouped.pending_now(), grouped.create("the next group"))
    finally:
        await grouped.writer.aclose()
        await grouped.engine.dispose()

    assert matching(path, "left pending") == 1
    assert matching(path, "the next group") == 1
    assert_index_is_exact(path)
