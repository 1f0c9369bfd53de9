"""The SQL side of storage: one unit of work per request over one session, and the database check.

The entrypoint wires these (and `create_engine`) from here; the repositories live in `repositories.py`
and `owners.py` (the key store too), on the advanced-alchemy row repositories of `rows.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import cached_property
from typing import Self

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.errors import is_unavailable, translating
from memo.adapters.storage.index_states import SqlAlchemyIndexStateRepository
from memo.adapters.storage.jobs import SqlAlchemyOutbox
from memo.adapters.storage.list_totals import ListTotals
from memo.adapters.storage.owners import SqlAlchemyApiKeyRepository, SqlAlchemyKeyStore, SqlAlchemyOwnerRepository
from memo.adapters.storage.repositories import SqlAlchemyIdempotencyRepository, SqlAlchemyMemoryRepository
from memo.adapters.storage.whatsapp import SqlAlchemyWhatsAppMessageRepository
from memo.application.dto import CheckResult
from memo.application.errors import NestedUnitOfWork, StorageUnavailable
from memo.application.ports import HealthCheck, UnitOfWork

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

    def __init__(self, session: AsyncSession, *, list_totals: ListTotals | None = None) -> None:
        self._session = session
        self._list_totals = list_totals  # PostgreSQL's kept list totals: one per process, from the container
        self.committed = False
        self._open = False

    # Built on first use: most requests touch one repository, and each costs a few objects to set up.
    @cached_property
    def memories(self) -> SqlAlchemyMemoryRepository:  # type: ignore[override]
        return SqlAlchemyMemoryRepository(self._session, list_totals=self._list_totals)

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
