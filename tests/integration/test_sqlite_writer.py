"""The SQLite writer: one connection for every write of the process, turns in savepoints, commits in groups."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.sqlite_writer import GroupCommitFailed, SqliteWriter, writer_of, writing
from memo.adapters.storage.engine import create_engine

SCHEMA = """
CREATE TABLE parents (id INTEGER PRIMARY KEY);
CREATE TABLE rows (id INTEGER PRIMARY KEY,
                   parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);
"""


class Boom(Exception):
    pass


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "memo.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
    return path


@pytest.fixture
async def engine(database: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    yield engine
    writer = writer_of(engine)
    assert writer is not None
    await writer.aclose()
    await engine.dispose()


def the_writer(engine: AsyncEngine) -> SqliteWriter:
    writer = writer_of(engine)
    assert writer is not None
    return writer


def committed_ids(database: Path) -> list[int]:
    """What another process sees: a connection of its own, outside this event loop."""
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM rows ORDER BY id")]


async def insert(engine: AsyncEngine, row_id: int, *, fail: bool = False) -> None:
    async with writing(engine) as connection:
        await connection.execute(text("INSERT INTO rows (id) VALUES (:id)"), {"id": row_id})
        if fail:
            raise Boom


async def test_concurrent_writes_share_one_commit_and_each_returns_once_it_is_committed(
        engine: AsyncEngine, database: Path) -> None:
    async def write_then_look(row_id: int) -> list[int]:
        await insert(engine, row_id)
        return committed_ids(database)

    seen = await asyncio.gather(*(write_then_look(row_id) for row_id in range(1, 21)))
    assert all(row_id in ids for row_id, ids in zip(range(1, 21), seen, strict=True))
    assert the_writer(engine).commits <= 2  # one group, or two if the loop split them
    assert committed_ids(database) == list(range(1, 21))


async def test_a_failed_write_rolls_back_alone_and_its_group_commits_the_rest(engine: AsyncEngine,
                                                                           database: Path) -> None:
    outcomes = await asyncio.gather(insert(engine, 1), insert(engine, 2, fail=True), insert(engine, 3),
                                    return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Boom)
    assert outcomes[2] is None
    assert committed_ids(database) == [1, 3]


async def test_a_commit_that_fails_fails_every_write_in_its_group_and_keeps_none(engine: AsyncEngine,
                                                                              database: Path) -> None:
    async def orphan() -> None:  # passes its own turn; the deferred foreign key fails the COMMIT
        async with writing(engine) as connection:
            await connection.execute(text("INSERT INTO rows (id, parent) VALUES (99, 12345)"))

    outcomes = await asyncio.gather(insert(engine, 1), orphan(), insert(engine, 3), return_exceptions=True)
    assert all(isinstance(outcome, GroupCommitFailed) for outcome in outcomes)
    assert committed_ids(database) == []
    await insert(engine, 4)  # the next group starts afresh
    assert committed_ids(database) == [4]


async def test_a_read_leaves_no_transaction_open_and_an_idle_writer_holds_no_connection(
        engine: AsyncEngine, database: Path) -> None:
    writer = the_writer(engine)
    async with writer.turn(savepoint=False) as connection:
        await connection.execute(text("SELECT count(*) FROM rows"))
    await writer.durable()
    await asyncio.sleep(0.01)  # the transaction's end runs right after the turn
    with sqlite3.connect(database, timeout=0) as other:  # another process writes at once: no lock is held
        other.execute("INSERT INTO rows (id) VALUES (7)")
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await insert(engine, 8)
    await asyncio.sleep(0.01)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert committed_ids(database) == [7, 8]


async def test_two_engines_on_one_file_in_one_loop_take_turns_instead_of_waiting_out_the_lock(
        engine: AsyncEngine, database: Path) -> None:
    """A second engine (a tool, a test, a worker in the same process) must not sit in SQLite's busy wait on the
    loop thread while the first engine's group, on that same thread, holds the write lock."""
    second = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        started = time.monotonic()
        await asyncio.gather(*(insert(engine if row_id % 2 else second, row_id) for row_id in range(1, 11)))
        assert time.monotonic() - started < 2  # SQLite's busy wait would have run out its 5 s first
        assert committed_ids(database) == list(range(1, 11))
    finally:
        await the_writer(second).aclose()
        await second.dispose()


async def test_a_cancelled_write_does_not_cancel_the_commit_the_others_wait_on(engine: AsyncEngine,
                                                                            database: Path) -> None:
    writer = the_writer(engine)
    cancelled = asyncio.ensure_future(insert(engine, 1))
    kept = asyncio.ensure_future(insert(engine, 2))
    while writer.turns < 2:  # noqa: ASYNC110 - both have written and wait for the group commit
        await asyncio.sleep(0)
    assert writer.commits == 0
    cancelled.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert 2 in committed_ids(database)
