"""Storage backends for the contract suite: in-memory, SQLite (always), PostgreSQL when MEMO_TEST_POSTGRES_URL is set.

SQL databases are built with the real migrations (never `create_all`): SQLite once per session into a template
file that each test copies; PostgreSQL once per session into a throwaway database that each test empties
afterwards and that is dropped at the end. Sessions carry advanced-alchemy's `touch_updated_timestamp` listener,
as `SQLAlchemyAsyncConfig` would install it, to prove it never rewrites the domain's `updated_at`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from advanced_alchemy._listeners import touch_updated_timestamp
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import sessionmaker

from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.jobs import SqlJobQueue
from memo.adapters.storage.memory import InMemoryHealthCheck, InMemoryKeyStore, InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.storage.memory_sync_status import InMemorySyncStatusReader
from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.orm import metadata
from memo.adapters.storage.postgres_writes import HoldingSession, PostgresUnitOfWork
from memo.adapters.storage.sqlalchemy import (
    SqlAlchemyKeyStore,
    SqlAlchemyUnitOfWork,
    SqlDatabaseHealthCheck,
    create_engine,
)
from memo.adapters.storage.sqlite_readers import SqliteReads, close_readers, readers_of
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.storage.whatsapp import SqlSyncStatusReader
from memo.application.ports import (
    HealthCheck,
    JobQueue,
    KeyStore,
    MemoryReads,
    SecretBox,
    SyncStatusReader,
    UnitOfWork,
)
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, database_url, drop_database

T = TypeVar("T")


def run_in_own_loop(work: Callable[[], Awaitable[T]]) -> T:
    """Run async set-up from a synchronous session fixture without touching pytest-asyncio's loops."""
    async def runner() -> T:
        return await work()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


class Storage:
    """What a contract test needs from a backend: fresh units of work, a key store and the database check."""

    name: str

    def uow(self) -> UnitOfWork:
        raise NotImplementedError

    def reads(self) -> MemoryReads:
        """As the container makes them: a unit of work's own, or on a SQLite file, its reader connections."""
        return UnitOfWorkReads(self.uow())

    def key_store(self, secret_box: SecretBox) -> KeyStore:
        raise NotImplementedError

    def health_check(self) -> HealthCheck:
        raise NotImplementedError

    def job_queue(self) -> JobQueue:
        raise NotImplementedError

    def sync_status_reader(self) -> SyncStatusReader:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class InMemoryStorage(Storage):
    name = "memory"

    def __init__(self) -> None:
        self.store = InMemoryStore()

    def uow(self) -> UnitOfWork:
        return InMemoryUnitOfWork(self.store)

    def key_store(self, secret_box: SecretBox) -> KeyStore:
        return InMemoryKeyStore(self.store, secret_box)

    def health_check(self) -> HealthCheck:
        return InMemoryHealthCheck()

    def job_queue(self) -> JobQueue:
        return InMemoryJobQueue(self.store)

    def sync_status_reader(self) -> SyncStatusReader:
        return InMemorySyncStatusReader(self.store)


class SqlStorage(Storage):
    def __init__(self, name: str, engine: AsyncEngine) -> None:
        self.name = name
        self.engine = engine
        sync_maker = sessionmaker(class_=HoldingSession)
        event.listen(sync_maker, "before_flush", touch_updated_timestamp)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=sync_maker)
        self._open: list[AsyncSession] = []
        self._key_stores: list[SqlAlchemyKeyStore] = []

    def _session(self) -> AsyncSession:
        session = self._sessions()
        self._open.append(session)
        return session

    def uow(self) -> UnitOfWork:
        """As the container makes them: on SQLite, turns of the file's one writer, committed in groups."""
        writer = writer_of(self.engine)
        if writer is not None:
            return SqliteUnitOfWork(writer)
        if self.name == "postgresql":
            return PostgresUnitOfWork(self._session())
        return SqlAlchemyUnitOfWork(self._session())

    def reads(self) -> MemoryReads:
        readers = readers_of(self.engine)
        return super().reads() if readers is None else SqliteReads(readers)

    def key_store(self, secret_box: SecretBox) -> KeyStore:
        store = SqlAlchemyKeyStore(self.engine, secret_box)
        self._key_stores.append(store)
        return store

    def health_check(self) -> HealthCheck:
        return SqlDatabaseHealthCheck(self.engine)

    def job_queue(self) -> JobQueue:
        return SqlJobQueue(self.engine)

    def sync_status_reader(self) -> SyncStatusReader:
        return SqlSyncStatusReader(self.engine)

    async def close(self) -> None:
        for session in self._open:
            await session.close()
        for store in self._key_stores:
            await store.aclose()
        writer = writer_of(self.engine)
        if writer is not None:
            await writer.aclose()
        await close_readers(self.engine)
        if self.name == "postgresql":  # the database outlives the test: leave it empty for the next one
            async with self.engine.begin() as connection:
                for table in reversed(metadata.sorted_tables):
                    await connection.execute(table.delete())
        await self.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "memo.db"
    run_in_own_loop(lambda: upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throwaway database on the server named by MEMO_TEST_POSTGRES_URL, dropped at the end."""
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run the PostgreSQL contract")
    name = run_in_own_loop(lambda: create_database("memo_test"))
    try:
        url = database_url(name)
        run_in_own_loop(lambda: upgrade(url))
        yield url
    finally:
        run_in_own_loop(lambda: drop_database(name))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend: Storage
    if request.param == "memory":
        backend = InMemoryStorage()
    elif request.param == "sqlite":
        path = tmp_path / "memo.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        backend = SqlStorage("sqlite", create_engine(f"sqlite+aiosqlite:///{path}"))
    else:
        backend = SqlStorage("postgresql", create_engine(request.getfixturevalue("postgres_url")))
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir for CLI commands run in this process, with no setting from the caller's shell."""
    monkeypatch.chdir(tmp_path)
    for name in ("MEMO_ENV", "MEMO_PROFILE", "DATABASE_URL", "ENCRYPTION_KEY", "ENCRYPTION_KEYS_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
