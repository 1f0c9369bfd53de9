"""The SQL side of storage: one unit of work per request over one session, the key store, the database check.

The entrypoint wires these (and `create_engine`) from here; the repositories live in `repositories.py`
and `owners.py`, on the advanced-alchemy row repositories of `rows.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Self
from uuid import UUID

from sqlalchemy import Executable, Result, bindparam, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.errors import is_unavailable, translating
from memo.adapters.storage.index_states import SqlAlchemyIndexStateRepository
from memo.adapters.storage.jobs import SqlAlchemyOutbox
from memo.adapters.storage.orm import ApiKeyRow, OwnerRow
from memo.adapters.storage.owners import SqlAlchemyApiKeyRepository, SqlAlchemyOwnerRepository
from memo.adapters.storage.repositories import SqlAlchemyIdempotencyRepository, SqlAlchemyMemoryRepository
from memo.adapters.storage.rows import affected
from memo.adapters.storage.whatsapp import SqlAlchemyWhatsAppMessageRepository
from memo.application.dto import ActiveKey, CheckResult
from memo.application.errors import NestedUnitOfWork, StorageUnavailable
from memo.application.ports import HealthCheck, KeyStore, SealedSecrets, SecretBox, UnitOfWork

__all__ = [
    "SqlAlchemyApiKeyRepository",
    "SqlAlchemyIdempotencyRepository",
    "SqlAlchemyKeyStore",
    "SqlAlchemyMemoryRepository",
    "SqlAlchemyOwnerRepository",
    "SqlAlchemyUnitOfWork",
    "SqlDatabaseHealthCheck",
    "create_engine",
]

logger = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork(UnitOfWork):
    """Every repository on one session, so what a use case writes commits or rolls back as one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.committed = False
        self._open = False

    # Built on first use: most requests touch one repository, and each costs a few objects to set up.
    @cached_property
    def memories(self) -> SqlAlchemyMemoryRepository:  # type: ignore[override]
        return SqlAlchemyMemoryRepository(self._session)

    @cached_property
    def idempotency(self) -> SqlAlchemyIdempotencyRepository:  # type: ignore[override]
        return SqlAlchemyIdempotencyRepository(self._session)

    @cached_property
    def owners(self) -> SqlAlchemyOwnerRepository:  # type: ignore[override]
        return SqlAlchemyOwnerRepository(self._session)

    @cached_property
    def api_keys(self) -> SqlAlchemyApiKeyRepository:  # type: ignore[override]
        return SqlAlchemyApiKeyRepository(self._session)

    @cached_property
    def whatsapp(self) -> SqlAlchemyWhatsAppMessageRepository:  # type: ignore[override]
        return SqlAlchemyWhatsAppMessageRepository(self._session)

    @cached_property
    def index_states(self) -> SqlAlchemyIndexStateRepository:  # type: ignore[override]
        return SqlAlchemyIndexStateRepository(self._session)

    @cached_property
    def outbox(self) -> SqlAlchemyOutbox:  # type: ignore[override]
        return SqlAlchemyOutbox(self._session)

    async def __aenter__(self) -> Self:
        if self._open:
            # The inner block's exit would roll back the outer block's work, or its commit would commit it early.
            raise NestedUnitOfWork
        self._open = True
        self.committed = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Roll back whatever was not committed (a no-op right after `commit()`)."""
        self._open = False
        try:
            await self._session.rollback()
        except (SQLAlchemyError, OSError) as error:
            if len(exc) > 1 and exc[1] is not None:
                # The block already failed and nothing of it was committed: report that failure, not this one.
                logger.warning("rollback failed while leaving a failed unit of work", exc_info=error)
                return
            if is_unavailable(error):
                raise StorageUnavailable from error
            raise

    @translating
    async def commit(self) -> None:
        await self._session.commit()
        self.committed = True


_ACTIVE_KEY = select(ApiKeyRow.owner_id, ApiKeyRow.sealed_secret).where(
    ApiKeyRow.key_id == bindparam("key_id"), ApiKeyRow.revoked_at.is_(None))
_OWNER_BY_NAME = select(OwnerRow.id).where(OwnerRow.name == bindparam("name"))
_ONE_ACTIVE_SEALED = select(ApiKeyRow.key_id, ApiKeyRow.sealed_secret).where(
    ApiKeyRow.revoked_at.is_(None)).order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.key_id).limit(1)
_EVERY_SEALED = select(ApiKeyRow.key_id, ApiKeyRow.sealed_secret).order_by(ApiKeyRow.created_at, ApiKeyRow.key_id)


class SqlAlchemyKeyStore(KeyStore, SealedSecrets):
    """Runs on every signed request: one indexed lookup, never cached, so a revocation counts at once.

    Never the request's session, so no transaction stays open behind authentication. On SQLite the reads share
    one autocommit connection held for the store's life: its calls run inline on the loop thread, so no two
    requests can be inside it at once, and it skips a pool checkout and reset per request (about 40 instead of
    150 microseconds). PostgreSQL takes a pooled connection per lookup, as its reads are network round trips.
    """

    def __init__(self, engine: AsyncEngine, secret_box: SecretBox) -> None:
        self._engine = engine
        self._secret_box = secret_box
        self._held: AsyncConnection | None = None
        self._opening = asyncio.Lock()

    @translating
    async def find_active(self, key_id: str) -> ActiveKey | None:
        row = (await self._read(_ACTIVE_KEY, {"key_id": key_id})).one_or_none()
        if row is None:
            return None
        secret = self._secret_box.open(bytes(row.sealed_secret), key_id=key_id)
        return ActiveKey(key_id=key_id, owner_id=row.owner_id, secret=secret)

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
        return [(row.key_id, bytes(row.sealed_secret)) for row in await self._read(_EVERY_SEALED, {})]

    @translating
    async def replace(self, key_id: str, old: bytes, new: bytes) -> bool:
        """A transaction of its own, apart from the held read connection: a write is rare and never on a request."""
        statement = update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.sealed_secret == old).values(
            sealed_secret=new)
        async with self._engine.begin() as connection:
            return affected(await connection.execute(statement)) == 1

    async def aclose(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            await held.close()

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
                self._held = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return self._held


class SqlDatabaseHealthCheck(HealthCheck):
    """A real round trip (`SELECT 1` on a pooled connection) under a short timeout; never reports the URL."""

    name = "database"

    def __init__(self, engine: AsyncEngine, *, timeout_s: float = 2.0) -> None:
        self._engine = engine
        self._timeout_s = timeout_s
        self._backend = engine.dialect.name

    async def check(self) -> CheckResult:
        started = time.perf_counter()
        detail: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s), self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError:
            detail = f"no answer within {self._timeout_s:g} s"
        except (SQLAlchemyError, OSError) as error:
            detail = f"unreachable ({type(error).__name__})"
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(healthy=detail is None, backend=self._backend, detail=detail, latency_ms=latency_ms)
