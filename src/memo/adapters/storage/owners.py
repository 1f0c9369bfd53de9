"""SQLAlchemy repositories of owners and their API keys, which share the unit of work's session and never commit,
and the key store that authentication reads on every request, on connections of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import aiosqlite
from advanced_alchemy.filters import OrderBy
from sqlalchemy import Executable, Insert, Result, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from memo.adapters.sqlite_writer import writing
from memo.adapters.storage.engine import sqlite_file
from memo.adapters.storage.errors import translating
from memo.adapters.storage.key_cache import ActiveKeyCache
from memo.adapters.storage.key_version import PostgresKeyVersion
from memo.adapters.storage.orm import (
    ApiKeyRow,
    OwnerRow,
    api_key_to_domain,
    owner_to_domain,
    owner_values,
)
from memo.adapters.storage.rows import ROW_OPTIONS, ApiKeyRows, OwnerRows, affected, insert_for
from memo.application.dto import ActiveKey
from memo.application.ports import ApiKeyRepository, KeyStore, OwnerRepository, SealedSecrets, SecretBox
from memo.domain.errors import OwnerAlreadyExists, ValidationFailed
from memo.domain.owners import ApiKey, Owner


class SqlAlchemyOwnerRepository(OwnerRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = OwnerRows(session=session, **ROW_OPTIONS)

    @translating
    async def add(self, owner: Owner) -> None:
        # ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed INSERT would poison
        # the whole transaction, and the caller may well go on using this unit of work.
        statement: Insert = insert_for(self._session, OwnerRow).values(
            **owner_values(owner)).on_conflict_do_nothing()
        if affected(await self._session.execute(statement)) == 1:
            return
        if await self.by_name(owner.name) is not None:
            raise OwnerAlreadyExists(owner.name)
        if owner.whatsapp_phone_number_id is not None:
            raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        raise ValueError(f"owner id {owner.id} is already stored")

    @translating
    async def by_name(self, name: str) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.name == name)
        return None if row is None else owner_to_domain(row)

    @translating
    async def by_id(self, owner_id: UUID) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.id == owner_id)
        return None if row is None else owner_to_domain(row)

    @translating
    async def by_whatsapp_phone_number_id(self, phone_number_id: str) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.whatsapp_phone_number_id == phone_number_id)
        return None if row is None else owner_to_domain(row)

    @translating
    async def all(self) -> Sequence[Owner]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="id"))
        return [owner_to_domain(row) for row in rows]

    @translating
    async def update(self, owner: Owner) -> bool:
        # The unique index decides who holds a number; checked first, as a failed UPDATE would poison the
        # transaction on PostgreSQL. A race past the check still ends in the index's IntegrityError, never two owners.
        if owner.whatsapp_phone_number_id is not None:
            holder = await self.by_whatsapp_phone_number_id(owner.whatsapp_phone_number_id)
            if holder is not None and holder.id != owner.id:
                raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        result = await self._session.execute(
            update(OwnerRow).where(OwnerRow.id == owner.id).values(
                whatsapp_phone_number_id=owner.whatsapp_phone_number_id, whatsapp_number=owner.whatsapp_number)
            .execution_options(synchronize_session=False))
        return affected(result) == 1


class SqlAlchemyApiKeyRepository(ApiKeyRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = ApiKeyRows(session=session, **ROW_OPTIONS)

    @translating
    async def add(self, key: ApiKey) -> None:
        # Core, not the ORM's flush: a failed flush rolls back the session's whole transaction, which on SQLite
        # is the writer's group (sqlite_unit_of_work.py); a failed statement takes only itself back
        await self._session.execute(insert(ApiKeyRow).values(
            key_id=key.key_id, owner_id=key.owner_id, label=key.label, sealed_secret=key.sealed_secret,
            created_at=key.created_at, revoked_at=key.revoked_at, last_used_at=key.last_used_at,
            previous_sealed_secret=key.previous_sealed_secret, previous_valid_until=key.previous_valid_until))

    @translating
    async def get(self, key_id: str) -> ApiKey | None:
        row = await self._rows.get_one_or_none(ApiKeyRow.key_id == key_id)
        return None if row is None else api_key_to_domain(row)

    @translating
    async def all(self) -> Sequence[ApiKey]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="key_id"))
        return [api_key_to_domain(row) for row in rows]

    @translating
    async def revoke(self, key_id: str, at: datetime) -> bool:
        """True when the key exists; revoking twice keeps the first revocation time."""
        result = await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at).execution_options(synchronize_session=False))
        if affected(result) == 1:
            return True
        return await self.get(key_id) is not None

    @translating
    async def rotate(self, key: ApiKey, *, replacing: bytes) -> bool:
        result = await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.key_id == key.key_id, ApiKeyRow.revoked_at.is_(None),
                                    ApiKeyRow.sealed_secret == replacing)
            .values(sealed_secret=key.sealed_secret, previous_sealed_secret=key.previous_sealed_secret,
                    previous_valid_until=key.previous_valid_until)
            .execution_options(synchronize_session=False))
        return affected(result) == 1


_ACTIVE_KEY = select(ApiKeyRow.owner_id, ApiKeyRow.sealed_secret, ApiKeyRow.previous_sealed_secret,
                     ApiKeyRow.previous_valid_until).where(
    ApiKeyRow.key_id == bindparam("key_id"), ApiKeyRow.revoked_at.is_(None))
_OWNER_BY_NAME = select(OwnerRow.id).where(OwnerRow.name == bindparam("name"))
_ONE_ACTIVE_SEALED = select(ApiKeyRow.key_id, ApiKeyRow.sealed_secret).where(
    ApiKeyRow.revoked_at.is_(None)).order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.key_id).limit(1)
_EVERY_SEALED = select(ApiKeyRow.key_id, ApiKeyRow.sealed_secret, ApiKeyRow.previous_sealed_secret).order_by(
    ApiKeyRow.created_at, ApiKeyRow.key_id)


class SqlAlchemyKeyStore(KeyStore, SealedSecrets):
    """Runs on every signed request: a rotation or revocation counts from the very next request.

    Never the request's session, so no transaction stays open behind authentication. On SQLite the reads share
    one autocommit connection held for the store's life: its calls run inline on the loop thread, so no two
    requests can be inside it at once, and it skips a pool checkout and reset per request (about 40 instead of
    150 microseconds). On a SQLite file, that connection's `PRAGMA data_version` also says whether anything was
    committed since the last request, so the keys read before are answered from memory until it moves
    (`key_cache.py`). PostgreSQL takes a pooled connection per lookup; there the keys read are kept while the
    count of key changes, read first on every request from a held connection, stands (`key_version.py`).
    """

    def __init__(self, engine: AsyncEngine, secret_box: SecretBox) -> None:
        self._engine = engine
        self._secret_box = secret_box
        self._held: AsyncConnection | None = None
        self._driver: aiosqlite.Connection | None = None  # the held connection's own, for the pragma
        self._opening = asyncio.Lock()
        self._key_version = PostgresKeyVersion(engine) if _counts_key_changes(engine) else None
        self._cache = ActiveKeyCache() if self._key_version is not None or _sees_every_commit(engine) else None

    @translating
    async def find_active(self, key_id: str) -> ActiveKey | None:
        if self._cache is None:
            return await self._look_up(key_id)
        # before the row is read: a commit after it moves the next one
        version = await self._data_version() if self._key_version is None else await self._version_read()
        self._cache.at(version)
        key = self._cache.get(key_id)
        if key is None:
            key = await self._look_up(key_id)
            if key is not None:
                self._cache.keep(key, read_at=version)
        return key

    async def _look_up(self, key_id: str) -> ActiveKey | None:
        row = (await self._read(_ACTIVE_KEY, {"key_id": key_id})).one_or_none()
        if row is None:
            return None
        secret = self._secret_box.open(bytes(row.sealed_secret), key_id=key_id)
        previous = (None if row.previous_sealed_secret is None
                    else self._secret_box.open(bytes(row.previous_sealed_secret), key_id=key_id))
        return ActiveKey(key_id=key_id, owner_id=row.owner_id, secret=secret, previous_secret=previous,
                         previous_valid_until=row.previous_valid_until)

    @translating
    async def owner_id_by_name(self, name: str) -> UUID | None:
        owner_id: UUID | None = (await self._read(_OWNER_BY_NAME, {"name": name})).scalar_one_or_none()
        return owner_id

    @translating
    async def sample(self) -> tuple[str, bytes] | None:
        row = (await self._read(_ONE_ACTIVE_SEALED, {})).one_or_none()
        return None if row is None else (row.key_id, bytes(row.sealed_secret))

    @translating
    async def all(self) -> Sequence[tuple[str, bytes]]:
        return [(row.key_id, bytes(sealed)) for row in await self._read(_EVERY_SEALED, {})
                for sealed in (row.sealed_secret, row.previous_sealed_secret) if sealed is not None]

    @translating
    async def replace(self, key_id: str, old: bytes, new: bytes) -> bool:
        """A transaction of its own, apart from the held read connection: a write is rare and never on a request."""
        async with writing(self._engine) as connection:
            for column in (ApiKeyRow.sealed_secret, ApiKeyRow.previous_sealed_secret):
                statement = update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, column == old).values(
                    {column: new})
                if affected(await connection.execute(statement)) == 1:
                    return True
            return False

    async def aclose(self) -> None:
        if self._cache is not None:
            self._cache.forget()
        if self._key_version is not None:
            await self._key_version.aclose()
        if self._held is not None:
            held, self._held, self._driver = self._held, None, None
            await held.close()

    async def _version_read(self) -> int:
        assert self._key_version is not None  # noqa: S101 - only called on PostgreSQL
        assert self._cache is not None  # noqa: S101
        try:
            return await self._key_version.read()
        except BaseException:
            self._cache.forget()  # a new connection's versions say nothing about what was kept
            raise

    async def _data_version(self) -> int:
        """The held connection's `PRAGMA data_version`, on the driver: SQLAlchemy's execute would cost more than
        the lookup the answer saves."""
        if self._driver is None:
            await self._open()
        driver = self._driver
        assert driver is not None  # noqa: S101 - opened with the held connection whenever the store caches
        try:
            rows = await driver.execute_fetchall("PRAGMA data_version")
        except sqlite3.Error:
            await self.aclose()  # a broken connection is replaced on the next lookup
            raise
        return int(next(iter(rows))[0])

    async def _read(self, statement: Executable, parameters: dict[str, object]) -> Result[Any]:
        if self._engine.dialect.name != "sqlite":
            async with self._engine.connect() as connection:
                return (await connection.execute(statement, parameters)).freeze()()
        held = self._held or await self._open()
        try:
            return await held.execute(statement, parameters)
        except SQLAlchemyError:
            await self.aclose()  # a broken connection is replaced on the next lookup
            raise

    async def _open(self) -> AsyncConnection:
        async with self._opening:
            if self._held is None:
                connection = await self._engine.connect()
                try:
                    held = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    driver = (None if self._cache is None
                              else _aiosqlite((await held.get_raw_connection()).driver_connection))
                except BaseException:
                    await connection.close()
                    raise
                self._held, self._driver = held, driver  # together: the pragma asks the connection the rows come from
            return self._held


def _counts_key_changes(engine: AsyncEngine) -> bool:
    """PostgreSQL through asyncpg, where migration 0013 counts key changes (`key_version.py`)."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"


def _sees_every_commit(engine: AsyncEngine) -> bool:
    """Whether the held read connection's data_version moves with every write: on a SQLite file, where that
    connection is the store's alone. Not on in-memory SQLite, whose one shared connection also does the writes,
    and SQLite says nothing to a connection about its own commits."""
    return (engine.dialect.name == "sqlite" and engine.dialect.driver == "aiosqlite"
            and sqlite_file(engine.url) is not None and not isinstance(engine.pool, (StaticPool, SingletonThreadPool)))


def _aiosqlite(driver: object) -> aiosqlite.Connection:
    if not isinstance(driver, aiosqlite.Connection):
        msg = "the SQLite key store is expected to run on aiosqlite"
        raise TypeError(msg)
    return driver
