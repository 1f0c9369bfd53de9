"""The writer's statements run on the event loop's own thread (`memo.adapters.storage.sqlite_inline`).

The inline connection overrides aiosqlite's `_execute`, its one way into the worker thread: should an aiosqlite
release route calls another way, the override would quietly stop applying and a unit of work's statements would
hop threads and interleave. This is the test that would say so.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from uuid import UUID

from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.sqlalchemy import create_engine
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand
from memo.domain.owners import Owner
from tests.integration.conftest import SqlStorage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)


async def test_every_statement_of_the_writer_runs_on_the_event_loops_own_thread(
        sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    # one connection in the pool, so the traced one is the one every turn gets
    storage = SqlStorage("sqlite", create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1, max_overflow=0))
    writer = writer_of(storage.engine)
    assert writer is not None
    seen: list[tuple[str, int]] = []
    try:
        async with writer.turn():
            await writer.driver.set_trace_callback(lambda statement: seen.append((statement, threading.get_ident())))
        async with storage.uow() as uow:
            await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
            await uow.commit()
        create = CreateMemory(uow=storage.uow(), clock=FixedClock(), ids=SequentialIds(start=1))
        await create(CreateMemoryCommand(owner_id=ALICE, content="paint the hall", tags=("home",)))

        assert any(statement.startswith("INSERT INTO memories") for statement, _ in seen)
        assert {thread for _, thread in seen} == {threading.get_ident()}
    finally:
        await storage.close()
