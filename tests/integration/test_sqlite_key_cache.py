"""The SQLite key store answers a key from memory only while no connection has committed anything since.

`PRAGMA data_version` on the store's read connection is the signal (`memo.adapters.storage.key_cache`): these
tests commit key changes from another process, from this process's writer through the `memo keys` use cases, and
on in-memory SQLite, where the one connection is also the writer and so the cache must stay off.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.adapters.storage.orm import ApiKeyRow, OwnerRow
from memo.adapters.storage.sqlalchemy import SqlAlchemyKeyStore, SqlAlchemyUnitOfWork, create_engine
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application.errors import StorageUnavailable
from memo.application.manage_keys import IssueApiKey, RevokeApiKey, RotateApiKey
from memo.domain.owners import ApiKey, Owner
from tests.integration.conftest import SqlStorage

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
KEY_ID = "key_cached_01"
SECRET = b"the secret in use"
BOX = AesGcmSecretBox(generate_encryption_key())


def key_reads(engine: AsyncEngine) -> list[str]:
    """Every key row the store reads from now on (SQLAlchemy's lookups; the pragma goes past it, on the driver)."""
    reads: list[str] = []

    def seen(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM api_keys" in statement:
            reads.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return reads


async def add_owner_with_key(storage: SqlStorage, owner_id: UUID, name: str, key_id: str) -> None:
    """The owner and one active key of hers, sealed with BOX around SECRET."""
    async with storage.uow() as uow:
        await uow.owners.add(Owner.create(id=owner_id, name=name, now=TEST_NOW))
        await uow.api_keys.add(ApiKey(key_id=key_id, owner_id=owner_id, label=None, created_at=TEST_NOW,
                                      sealed_secret=BOX.seal(SECRET, key_id=key_id)))
        await uow.commit()


@pytest.fixture
async def sqlite(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[SqlStorage]:
    """A migrated SQLite file holding ALICE and her one active key, KEY_ID."""
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    storage = SqlStorage("sqlite", create_engine(f"sqlite+aiosqlite:///{path}"))
    await add_owner_with_key(storage, ALICE, "alice", KEY_ID)
    try:
        yield storage
    finally:
        await storage.close()


def database_file(storage: SqlStorage) -> str:
    assert storage.engine.url.database is not None
    return storage.engine.url.database


def revoke_from_another_process(path: str, key_id: str) -> None:
    script = ("import sqlite3, sys\n"
              "with sqlite3.connect(sys.argv[1]) as db:\n"
              "    db.execute(\"UPDATE api_keys SET revoked_at = '2026-11-28 10:00:00.000000' WHERE key_id = ?\",\n"
              "               (sys.argv[2],))\n")
    subprocess.run([sys.executable, "-c", script, path, key_id], check=True, timeout=60)  # noqa: S603 - ours


async def test_a_key_looked_up_again_with_nothing_committed_in_between_is_not_read_again(
        sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    reads = key_reads(sqlite.engine)

    first = await keys.find_active(KEY_ID)
    again = await keys.find_active(KEY_ID)

    assert first is not None
    assert again == first
    assert first.secret == SECRET
    assert len(reads) == 1


async def test_a_key_revoked_by_another_process_is_refused_on_the_very_next_lookup(sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    assert await keys.find_active(KEY_ID) is not None  # answered from memory now

    revoke_from_another_process(database_file(sqlite), KEY_ID)

    assert await keys.find_active(KEY_ID) is None


async def test_a_key_revoked_by_the_use_case_in_this_process_is_refused_on_the_very_next_lookup(
        sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None

    await RevokeApiKey(uow=sqlite.uow(), clock=FixedClock(), audit=RecordingAuditLog())(KEY_ID)

    assert await keys.find_active(KEY_ID) is None


async def test_a_key_issued_in_this_process_after_a_lookup_is_found_at_once(sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None

    issued = await IssueApiKey(uow=sqlite.uow(), clock=FixedClock(), box=BOX, audit=RecordingAuditLog())("alice")

    found = await keys.find_active(issued.key_id)
    assert found is not None
    assert found.secret == issued.secret.encode()


async def test_a_rotation_is_seen_at_once_and_the_cached_key_still_ends_its_grace_at_the_callers_clock(
        sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None

    rotated = await RotateApiKey(uow=sqlite.uow(), clock=FixedClock(), box=BOX, audit=RecordingAuditLog())(
        KEY_ID, grace_s=60)
    reads = key_reads(sqlite.engine)
    after = await keys.find_active(KEY_ID)
    cached = await keys.find_active(KEY_ID)

    assert after is not None
    assert cached is not None
    assert len(reads) == 1  # the second answer came from memory
    assert after.secret == cached.secret == rotated.secret.encode()
    assert cached.previous_at(rotated.previous_valid_until - timedelta(seconds=1)) == SECRET
    assert cached.previous_at(rotated.previous_valid_until + timedelta(seconds=1)) is None


async def test_unknown_key_ids_are_read_every_time_and_never_push_out_the_key_in_use(sqlite: SqlStorage) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    reads = key_reads(sqlite.engine)

    made_up = [f"key_{secrets.token_urlsafe(9)}" for _ in range(3_000)]
    answers = [await keys.find_active(key_id) for key_id in made_up + made_up[:10]]
    in_use = await keys.find_active(KEY_ID)

    assert answers == [None] * len(answers)
    assert len(reads) == len(answers)  # the key in use was still in memory
    assert in_use is not None


async def test_a_failed_data_version_check_is_unavailable_and_the_read_connection_is_replaced(
        sqlite: SqlStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = sqlite.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    checkouts: list[object] = []
    event.listen(sqlite.engine.sync_engine, "checkout", lambda *connection: checkouts.append(connection))

    async def disk_error(*_: object) -> None:
        failure = sqlite3.OperationalError("disk I/O error")
        failure.sqlite_errorname = "SQLITE_IOERR"
        raise failure

    with monkeypatch.context() as patched:
        patched.setattr("aiosqlite.Connection.execute_fetchall", disk_error)
        with pytest.raises(StorageUnavailable):
            await keys.find_active(KEY_ID)
    revoke_from_another_process(database_file(sqlite), KEY_ID)

    assert await keys.find_active(KEY_ID) is None
    assert len(checkouts) == 1


async def test_in_memory_sqlite_whose_one_connection_also_writes_sees_a_revocation_at_once() -> None:
    """SQLite never moves data_version for a connection's own commits, so a cache there would never drop a key."""
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: OwnerRow.metadata.create_all(
                sync, tables=[OwnerRow.__table__, ApiKeyRow.__table__]))
        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            await uow.owners.add(Owner.create(id=ALICE, name="alice", now=TEST_NOW))
            await uow.api_keys.add(ApiKey(key_id=KEY_ID, owner_id=ALICE, label=None, created_at=TEST_NOW,
                                          sealed_secret=BOX.seal(SECRET, key_id=KEY_ID)))
            await uow.commit()
        keys = SqlAlchemyKeyStore(engine, BOX)
        assert await keys.find_active(KEY_ID) is not None

        async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
            await uow.api_keys.revoke(KEY_ID, TEST_NOW)
            await uow.commit()

        assert await keys.find_active(KEY_ID) is None
        await keys.aclose()
    finally:
        await engine.dispose()
