"""What only the SQL stores can get wrong: connection settings, durability, and outages reported as such."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage import engine as engine_module
from memo.adapters.storage.errors import translated
from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import (
    SqlAlchemyKeyStore,
    SqlAlchemyUnitOfWork,
    SqlDatabaseHealthCheck,
    create_engine,
)
from memo.adapters.system import TEST_NOW
from memo.application.errors import StorageUnavailable
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Owner

POSTGRES_ADMIN_URL = os.environ.get("MEMO_TEST_POSTGRES_URL")
OWNER = uuid.UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0001)


class NoBox:
    def seal(self, plaintext: bytes) -> bytes:
        return plaintext

    def open(self, sealed: bytes) -> bytes:
        return sealed


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}"
    await upgrade(url)
    return url


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and then never says a word, like a hung database."""
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def closed_port_url() -> str:
    return "postgresql+asyncpg://memo:not-a-real-password@127.0.0.1:9/memo"


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 1), ("full", 2)])
async def test_sqlite_connections_use_wal_the_chosen_sync_foreign_keys_and_a_busy_timeout(
        tmp_path: Path, mode: str, level: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'folder' / 'memo.db'}", sqlite_synchronous=mode)
    try:
        async with engine.connect() as connection:
            pragmas = [(await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                       for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")]
    finally:
        await engine.dispose()

    assert pragmas == ["wal", level, 1, engine_module.SQLITE_BUSY_TIMEOUT_MS]
    assert (tmp_path / "new" / "folder" / "memo.db").exists()


def test_an_unknown_sqlite_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        create_engine(f"sqlite+aiosqlite:///{tmp_path / 'memo.db'}", sqlite_synchronous="OFF")


@pytest.mark.slow  # starts a writer process
async def test_an_acknowledged_sqlite_commit_survives_killing_the_process(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
        await uow.owners.add(Owner.create(id=OWNER, name="durable", now=TEST_NOW))
        await uow.commit()
    writer = textwrap.dedent(f"""
        import asyncio
        import uuid
        from sqlalchemy.ext.asyncio import AsyncSession
        from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
        from memo.adapters.system import SystemClock, UuidV7Ids
        from memo.domain.memory import Memory, MemoryType

        async def main():
            engine, ids, clock = create_engine({sqlite_url!r}), UuidV7Ids(), SystemClock()
            owner_id = uuid.UUID({str(OWNER)!r})
            while True:
                memory = Memory.create(id=ids.new_id(), owner_id=owner_id, content="x", type=MemoryType.NOTE,
                                       now=clock.now())
                async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
                    await uow.memories.add(memory)
                    await uow.commit()
                print(memory.id, flush=True)  # the acknowledgement: sent only after commit returned

        asyncio.run(main())
    """)
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", writer, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    acknowledged = [uuid.UUID((await process.stdout.readline()).decode().strip()) for _ in range(30)]
    process.send_signal(signal.SIGKILL)
    await process.wait()

    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            stored = [await uow.memories.get(OWNER, memory_id) for memory_id in acknowledged]
    finally:
        await engine.dispose()
    assert all(memory is not None for memory in stored)


async def test_a_locked_sqlite_database_is_reported_as_unavailable(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    engine = create_engine(sqlite_url)
    async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
        await uow.owners.add(Owner.create(id=OWNER, name="locked", now=TEST_NOW))
        await uow.commit()
    other_writer = sqlite3.connect(tmp_path / "memo.db", isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    memory = Memory.create(id=uuid.uuid4(), owner_id=OWNER, content="x", type=MemoryType.NOTE, now=TEST_NOW)
    try:
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            with pytest.raises(StorageUnavailable):
                await uow.memories.add(memory)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
        await engine.dispose()


async def test_a_missing_table_is_reported_as_the_bug_it_is_not_as_an_outage(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        async with AsyncSession(engine) as session:
            with pytest.raises(OperationalError, match="no such table"):
                await SqlAlchemyUnitOfWork(session).memories.get(OWNER, OWNER)
    finally:
        await engine.dispose()


async def test_an_unreachable_database_is_reported_as_unavailable_by_every_entry_point() -> None:
    engine = create_engine(closed_port_url(), connect_timeout_s=1)
    try:
        async with AsyncSession(engine) as session:
            uow = SqlAlchemyUnitOfWork(session)
            with pytest.raises(StorageUnavailable):
                await uow.memories.get(OWNER, OWNER)
            with pytest.raises(StorageUnavailable):
                await uow.owners.add(Owner.create(id=OWNER, name="nobody", now=TEST_NOW))
            with pytest.raises(StorageUnavailable):
                await SqlAlchemyKeyStore(engine, NoBox()).find_active("key_id_0001")
    finally:
        await engine.dispose()


async def test_the_database_check_reports_an_unreachable_server_without_revealing_the_url() -> None:
    engine = create_engine(closed_port_url(), connect_timeout_s=1)
    try:
        result = await SqlDatabaseHealthCheck(engine).check()
    finally:
        await engine.dispose()

    assert not result.healthy
    assert result.backend == "postgresql"
    assert result.detail is not None
    assert "not-a-real-password" not in result.detail
    assert "127.0.0.1" not in result.detail


async def test_the_database_check_gives_up_on_a_server_that_never_answers(silent_server: int) -> None:
    engine = create_engine(f"postgresql+asyncpg://memo@127.0.0.1:{silent_server}/memo", connect_timeout_s=30)
    try:
        result = await SqlDatabaseHealthCheck(engine, timeout_s=0.2).check()
    finally:
        await engine.dispose()

    assert not result.healthy
    assert result.detail == "no answer within 0.2 s"
    assert result.latency_ms is not None
    assert result.latency_ms < 5_000


@pytest.mark.postgres
async def test_a_postgres_statement_over_the_timeout_is_cancelled_and_reported_as_unavailable() -> None:
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run PostgreSQL checks")
    engine = create_engine(POSTGRES_ADMIN_URL, statement_timeout_ms=100)
    try:
        async with AsyncSession(engine) as session:
            with pytest.raises(StorageUnavailable), translated():
                await session.execute(text("SELECT pg_sleep(2)"))
    finally:
        await engine.dispose()
