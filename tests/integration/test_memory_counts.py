"""Migration 0012's `memory_counts`: SQLite only, filled for memories written before it, and moved by its triggers
with every write that adds, removes or re-owns a memory, whoever makes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import delete, insert, inspect, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.storage.migrate import downgrade, upgrade
from memo.adapters.storage.orm import metadata
from memo.adapters.storage.sqlalchemy import create_engine
from memo.adapters.system import TEST_NOW
from tests.support.postgres import POSTGRES_ADMIN_URL, throwaway_database

ALICE, BOB = UUID(int=0xA11C), UUID(int=0xB0B)
OWNERS, MEMORIES = metadata.tables["owners"], metadata.tables["memories"]


def memory_row(n: int, owner: UUID) -> dict[str, Any]:
    return {"id": UUID(int=0x1000 + n), "owner_id": owner, "content": f"memory {n}", "type": "note", "tags": [],
            "metadata": {}, "source": "api", "created_at": TEST_NOW, "updated_at": TEST_NOW, "version": 1}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite file at revision 0011 (before the counts) holding Alice's three memories and Bob's one."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}"
    await upgrade(url, "0011")
    made = create_engine(url)
    async with made.begin() as connection:
        await connection.execute(insert(OWNERS), [{"id": ALICE, "name": "alice", "created_at": TEST_NOW},
                                                  {"id": BOB, "name": "bob", "created_at": TEST_NOW}])
        await connection.execute(insert(MEMORIES), [memory_row(n, ALICE) for n in range(3)] + [memory_row(3, BOB)])
    await upgrade(url)
    try:
        yield made
    finally:
        await made.dispose()


async def counts(engine: AsyncEngine) -> dict[UUID, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT owner_id, total FROM memory_counts"))
        return {UUID(bytes=bytes(owner)): total for owner, total in rows}


async def test_the_upgrade_counts_the_memories_written_before_it(engine: AsyncEngine) -> None:
    assert await counts(engine) == {ALICE: 3, BOB: 1}


async def test_a_memory_moved_to_another_owner_moves_its_count(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(MEMORIES).where(MEMORIES.c.id == UUID(int=0x1000)).values(owner_id=BOB))
        await connection.execute(update(MEMORIES).where(MEMORIES.c.id == UUID(int=0x1001)).values(content="same"))

    assert await counts(engine) == {ALICE: 2, BOB: 2}


async def test_deleting_an_owner_takes_its_memories_and_its_count_and_leaves_the_others(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(OWNERS).where(OWNERS.c.id == ALICE))

    assert await counts(engine) == {BOB: 1}


async def test_down_to_0011_drops_the_counts_and_up_again_counts_afresh(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    await downgrade(url, "0011")
    async with engine.begin() as connection:
        assert "memory_counts" not in await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await connection.execute(insert(MEMORIES), memory_row(4, BOB))  # no trigger left to fail on it
    await upgrade(url)

    assert await counts(engine) == {ALICE: 3, BOB: 2}


async def test_postgresql_has_no_counts_table() -> None:
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run the PostgreSQL migrations")
    async with throwaway_database("memo_counts") as url:
        await upgrade(url)
        made = create_engine(url)
        try:
            async with made.connect() as connection:
                tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await made.dispose()

    assert "memories" in tables
    assert "memory_counts" not in tables
