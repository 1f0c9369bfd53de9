"""On PostgreSQL the key store answers a key from memory only while the count of key changes stands.

The count is migration 0013's `api_key_changes.version` (`memo.adapters.storage.key_version`): these tests change
keys from a session of their own, as `memo keys` or another server would, and kill the store's held connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import make_url

from memo.adapters.storage.key_version import READ_VERSION
from memo.adapters.storage.sqlalchemy import create_engine
from memo.application.errors import StorageUnavailable
from tests.integration.conftest import SqlStorage
from tests.integration.test_sqlite_key_cache import BOX, SECRET, add_owner_with_key, key_reads

pytestmark = pytest.mark.postgres

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11D)
KEY_ID = "key_cached_pg_01"


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[SqlStorage]:
    """The migrated test database holding ALICE and her one active key, KEY_ID."""
    storage = SqlStorage("postgresql", create_engine(postgres_url))
    await add_owner_with_key(storage, ALICE, "alice-pg", KEY_ID)
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def other_session(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of its own, as `memo keys` in another process or another server would have."""
    url = make_url(postgres_url)
    connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                       password=url.password, database=url.database)
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_key_looked_up_again_with_no_key_change_in_between_is_not_read_again(postgres: SqlStorage) -> None:
    keys = postgres.key_store(BOX)
    reads = key_reads(postgres.engine)

    first = await keys.find_active(KEY_ID)
    answers = [await keys.find_active(KEY_ID) for _ in range(50)]

    assert first is not None
    assert first.secret == SECRET
    assert answers == [first] * 50
    assert len(reads) == 1


async def test_a_key_revoked_by_another_session_is_refused_on_the_very_next_lookup(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    assert await keys.find_active(KEY_ID) is not None  # answered from memory now

    await other_session.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", KEY_ID)

    assert await keys.find_active(KEY_ID) is None


async def test_a_rotated_key_is_read_again_on_the_very_next_lookup(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    sealed = BOX.seal(b"the next secret", key_id=KEY_ID)

    await other_session.execute("UPDATE api_keys SET previous_sealed_secret = sealed_secret, sealed_secret = $2, "
                                "previous_valid_until = now() + interval '1 minute' WHERE key_id = $1",
                                KEY_ID, sealed)

    rotated = await keys.find_active(KEY_ID)
    assert rotated is not None
    assert rotated.secret == b"the next secret"
    assert rotated.previous_secret == SECRET


async def test_a_key_use_recorded_by_another_server_keeps_the_key_in_memory(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    reads = key_reads(postgres.engine)

    await other_session.execute("UPDATE api_keys SET last_used_at = now() WHERE key_id = $1", KEY_ID)
    assert await keys.find_active(KEY_ID) is not None

    assert reads == []


async def test_a_deleted_owners_keys_are_refused_on_the_very_next_lookup(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None

    await other_session.execute("DELETE FROM owners WHERE id = $1", ALICE)

    assert await keys.find_active(KEY_ID) is None


async def test_a_lost_held_connection_is_unavailable_once_and_replaced_and_nothing_kept_is_trusted(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    assert await keys.find_active(KEY_ID) is not None
    held = await other_session.fetch(
        "SELECT pid FROM pg_stat_activity WHERE query = $1 AND datname = current_database()", READ_VERSION)
    assert len(held) == 1

    await other_session.execute("SELECT pg_terminate_backend($1)", held[0]["pid"])
    with pytest.raises(StorageUnavailable):
        await keys.find_active(KEY_ID)
    await other_session.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", KEY_ID)

    assert await keys.find_active(KEY_ID) is None


async def test_concurrent_lookups_queue_on_the_one_session_and_each_sees_a_revocation_made_before_it(
        postgres: SqlStorage, other_session: asyncpg.Connection) -> None:
    keys = postgres.key_store(BOX)
    kept = await asyncio.gather(*(keys.find_active(KEY_ID) for _ in range(64)))
    assert all(key is not None and key.secret == SECRET for key in kept)

    await other_session.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", KEY_ID)

    assert await asyncio.gather(*(keys.find_active(KEY_ID) for _ in range(64))) == [None] * 64
