"""SIGKILL during concurrent signed creates on SQLite: every committed memory is in the full-text index, as a
rebuild would have it, and nothing was left pending (migration 0014 writes a group's entries before its COMMIT)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.orm import MemoryRow
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork
from memo.application.dto import MemoryQuery
from tests.integration.test_crash_durability import CREATES, create_until_killed
from tests.integration.test_fulltext_group_flush import assert_index_is_exact
from tests.support.server import free_port, kill_group, start_server

pytestmark = pytest.mark.slow  # starts and kills `memo serve`


async def _found_by_search(path: Path) -> tuple[dict[str, set[str]], set[str]]:
    """What the list's `search` finds for each committed memory's whole content, and every committed id."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            memories = (await session.execute(select(MemoryRow.owner_id, MemoryRow.id, MemoryRow.content))).all()
            found: dict[str, set[str]] = {}
            for owner_id, memory_id, content in memories:
                page = await uow.memories.find(owner_id, MemoryQuery(search=f'"{content}"', limit=5))
                found[str(memory_id)] = {str(memory.id) for memory in page.items}
        return found, set(found)
    finally:
        await engine.dispose()


def test_a_sigkill_during_grouped_creates_leaves_every_committed_memory_searchable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"MEMO_DATA_DIR": str(data), "RATE_LIMIT_MAX_REQUESTS": "100000"}
    port = free_port()
    process = start_server(tmp_path, port, env)
    key = json.loads((data / "default-key.json").read_text())

    async def load_and_kill() -> set[str]:
        kill = asyncio.Event()

        async def killer() -> None:
            await kill.wait()
            await asyncio.to_thread(kill_group, process)

        killing = asyncio.create_task(killer())
        acknowledged = await create_until_killed(port, key, kill, outcomes)
        kill.set()
        await killing
        return acknowledged

    outcomes: Counter[str] = Counter()
    acknowledged = asyncio.run(load_and_kill())
    assert len(acknowledged) >= CREATES // 4, outcomes
    assert process.returncode == -9

    path = data / "memo.db"
    assert_index_is_exact(path)  # opened as the next server would: the log's committed groups, nothing else
    found, committed = asyncio.run(_found_by_search(path))
    assert acknowledged <= committed
    assert all(found[memory_id] == {memory_id} for memory_id in committed)
