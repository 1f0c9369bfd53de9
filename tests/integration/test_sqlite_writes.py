"""The create's inserts on the SQLite writer's driver store exactly the bytes SQLAlchemy Core would store."""

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
