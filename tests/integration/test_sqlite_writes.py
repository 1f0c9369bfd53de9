"""The create's inserts on the SQLite writer's driver store exactly the bytes SQLAlchemy Core would store, and the
list's and get's reads on it answer exactly what Core's would."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.application.dto import MemoryQuery, Page, SortField, SortOrder
from memo.application.ports import UnitOfWork
from memo.domain.jobs import Job
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import Owner
from memo.domain.retrieval import index_job

OWNER = UUID("01930000-0000-7000-8000-000000000001")
WHEN = datetime(2026, 11, 28, 9, 53, 13, 123456, tzinfo=UTC)
MEMORY = Memory.create(id=UUID("01930000-0000-7000-8000-0000000000aa"), owner_id=OWNER,
                       content="Dentist on Tuesday at 3pm — bring the İstanbul receipts",
                       type=MemoryType.REMINDER, tags=("health", "errands"),
                       metadata={"where": "Calle Mayor 5", "n": 3, "nested": {"ok": True}}, source=Source.WHATSAPP,
                       now=WHEN)
JOB = index_job(OWNER, [MEMORY.id], id=UUID("01930000-0000-7000-8000-0000000000bb"), now=WHEN)
# an import keeps a memory's own times, in whatever zone they came: stored in UTC all the same
ZONED = Memory.restored(id=UUID("01930000-0000-7000-8000-0000000000cc"), owner_id=OWNER, content="from an export",
                        type=MemoryType.NOTE, tags=(), metadata={}, source=Source.IMPORT,
                        created_at=datetime(999, 1, 2, 23, 30, 0, 7, tzinfo=timezone(timedelta(hours=-5))),
                        updated_at=datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2))),
                        version=4)


async def write(uow: UnitOfWork, memory: Memory, job: Job) -> None:
    async with uow:
        await uow.owners.add(Owner.create(id=OWNER, name="anna", now=WHEN))
        await uow.memories.add(memory)
        await uow.memories.add(ZONED)
        await uow.outbox.enqueue(job)
        await uow.commit()


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every stored value with SQLite's own type of it, table by table."""
    with sqlite3.connect(path) as database:
        return {table: [tuple((value, type(value).__name__) for value in row)
                        for row in database.execute(f"SELECT * FROM {table} ORDER BY 1")]  # noqa: S608 - ours
                for table in ("memories", "memory_tags", "jobs", "memories_fts")}


async def test_the_drivers_inserts_store_what_core_stores(tmp_path: Path, sqlite_template: Path) -> None:
    by_core, by_driver = tmp_path / "core.db", tmp_path / "driver.db"
    for path in (by_core, by_driver):
        shutil.copyfile(sqlite_template, path)
    core, driver = create_engine(f"sqlite+aiosqlite:///{by_core}"), create_engine(f"sqlite+aiosqlite:///{by_driver}")
    try:
        async with AsyncSession(core, expire_on_commit=False) as session:
            await write(SqlAlchemyUnitOfWork(session), MEMORY, JOB)
        writer = writer_of(driver)
        assert writer is not None
        await write(SqliteUnitOfWork(writer), MEMORY, JOB)
        await writer.aclose()
    finally:
        await core.dispose()
        await driver.dispose()
    stored = rows(by_driver)
    assert stored == rows(by_core)
    assert len(stored["memory_tags"]) == 2
    assert ("0999-01-03 04:30:00.000007", "str") in stored["memories"][1]  # the zoned import, in UTC
    assert stored["memories_fts"]  # the full-text triggers ran for the driver's insert too


async def read(uow: UnitOfWork) -> list[object]:
    """A memory by id, one absent, and pages in every order, one of them past the last memory."""
    async with uow:
        found: list[object] = [await uow.memories.get(OWNER, MEMORY.id), await uow.memories.get(OWNER, ZONED.id),
                               await uow.memories.get(UUID(int=7), MEMORY.id)]
        found.extend([await uow.memories.find(OWNER, MemoryQuery(sort_by=sort_by, sort_order=order))
                      for sort_by in SortField for order in SortOrder])
        found.append(await uow.memories.find(OWNER, MemoryQuery(limit=1, offset=1)))
        found.append(await uow.memories.find(OWNER, MemoryQuery(offset=5)))
        found.append(await uow.memories.find(UUID(int=7), MemoryQuery()))
    return found


async def test_the_drivers_reads_answer_what_core_reads(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        writer = writer_of(engine)
        assert writer is not None
        await write(SqliteUnitOfWork(writer), MEMORY, JOB)
        by_driver = await read(SqliteUnitOfWork(writer))
        await writer.aclose()
        async with AsyncSession(engine, expire_on_commit=False) as session:
            by_core = await read(SqlAlchemyUnitOfWork(session))
    finally:
        await engine.dispose()
    assert by_driver == by_core
    assert by_driver[0] == MEMORY
    assert by_driver[2] is None
    assert by_driver[-2] == Page(items=[], total=2, limit=20, offset=5)  # past the last: the total read on its own
    assert by_driver[-1] == Page(items=[], total=0, limit=20, offset=0)
    zoned = by_driver[1]
    assert isinstance(zoned, Memory)
    assert zoned.created_at == ZONED.created_at
    assert zoned.created_at.tzinfo is UTC
    assert type(zoned.id) is UUID
