"""Nonces in the database (no REDIS_URL), so every worker process and every restart sees the ones recorded.

A claim is one statement that the database runs atomically on SQLite and PostgreSQL alike: insert the nonce, or,
when it is already there, let the row decide. An expired row is taken over as if new; a live row refuses, unless
it and this use are both shared (`mode` "s"); a refused use marks the row "r", which is exclusive from then on and
tells this call it lost. Two processes racing on one nonce cannot both win: SQLite serialises the writes, and
PostgreSQL's `ON CONFLICT DO UPDATE` locks the row it conflicts with.

On SQLite the claims share one autocommit connection held for the store's life, as `SqlAlchemyKeyStore` does: its
calls run inline on the loop thread (`sqlite_inline.py`), so a claim never sits between another request's
statements, and it skips a pool checkout per request. That connection runs with `synchronous=NORMAL` even when the
database is FULL: a nonce is then durable as soon as the request's own write is (a FULL commit fsyncs the whole
log, earlier frames included), and a read costs no fsync; a power cut can forget the nonces of reads only.
PostgreSQL takes an autocommit pooled connection per claim: one round trip, no BEGIN or COMMIT.

Expired rows are purged in bounded batches, at the first claim, then every `purge_every` claims or `purge_after_s`
seconds: a batch is larger than what as many claims can add, so the table follows the live window. Any database
error is `NonceStoreUnavailable`: replay protection fails closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import sqlite3

import aiosqlite
from sqlalchemy import TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from memo.application.errors import NonceStoreUnavailable
from memo.application.ports import Clock, NonceStore

SHARED, EXCLUSIVE, REFUSED = "s", "x", "r"  # `nonces.mode`; "x" and "r" are both exclusive, "r" also says "refused"
_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SQLITE_FULL = 2  # PRAGMA synchronous's answer for FULL

# `nonces.col` is the row already there, `excluded.col` the one this claim offered; `:now` is the store's clock.
_CLAIM = text("""
INSERT INTO nonces (key, mode, expires_at) VALUES (:key, :mode, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    mode = CASE WHEN nonces.expires_at <= :now THEN excluded.mode
                WHEN nonces.mode = 's' AND excluded.mode = 's' THEN 's'
                ELSE 'r' END,
    expires_at = CASE WHEN nonces.expires_at <= :now THEN excluded.expires_at ELSE nonces.expires_at END
RETURNING mode
""")
_PURGE = text("DELETE FROM nonces WHERE key IN (SELECT key FROM nonces WHERE expires_at <= :now LIMIT :limit)")


def nonce_key(scope: str, nonce: str) -> str:
    """Length-prefixed as the in-process store does when both parts are plain; otherwise "~" + SHA-256, which no
    plain key (it starts with a digit) can spell, so hostile values (NUL, lone surrogates, 100 kB) stay bounded."""
    if _PLAIN.fullmatch(scope) and _PLAIN.fullmatch(nonce):
        return f"{len(scope)}:{scope}{nonce}"
    joined = f"{len(scope)}:{scope}{nonce}".encode("utf-8", "surrogatepass")
    return "~" + hashlib.sha256(joined).hexdigest()


class SqlNonceStore(NonceStore):
    def __init__(self, engine: AsyncEngine, clock: Clock, *, purge_every: int = 256, purge_batch: int = 1_024,
                 purge_after_s: float = 60.0) -> None:
        if purge_every < 1 or purge_batch <= purge_every or not (purge_after_s > 0 and math.isfinite(purge_after_s)):
            raise ValueError("the purge needs purge_batch > purge_every >= 1 and a finite purge_after_s > 0")
        self._engine, self._clock = engine, clock
        self._sqlite = engine.dialect.name == "sqlite"
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._purge_every, self._purge_batch, self._purge_after_s = purge_every, purge_batch, purge_after_s
        self._claims_since_purge = purge_every  # the first claim purges what an earlier run left behind
        self._purged_at = -math.inf
        self._held: AsyncConnection | None = None
        self._driver: aiosqlite.Connection | None = None
        self._restore_synchronous: int | None = None
        self._opening = asyncio.Lock()

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        now = self._clock.now().timestamp()
        parameters = {"key": nonce_key(scope, nonce), "mode": SHARED if shared else EXCLUSIVE,
                      "expires_at": now + ttl_s, "now": now}
        try:
            mode = await self._run(_CLAIM, parameters)
            self._claims_since_purge += 1
            if self._claims_since_purge >= self._purge_every or now - self._purged_at >= self._purge_after_s:
                self._claims_since_purge, self._purged_at = 0, now
                await self._run(_PURGE, {"now": now, "limit": self._purge_batch})
        except (SQLAlchemyError, sqlite3.Error, OSError) as error:
            raise NonceStoreUnavailable from error
        return mode != REFUSED

    async def aclose(self) -> None:
        if self._held is None:
            return
        held, self._held, self._driver = self._held, None, None
        try:
            if self._restore_synchronous is not None:  # the pool must not hand a FULL database a NORMAL connection
                await held.exec_driver_sql(f"PRAGMA synchronous={self._restore_synchronous:d}")
        except (SQLAlchemyError, sqlite3.Error, OSError):
            await held.invalidate()
        await held.close()

    async def _run(self, statement: TextClause, parameters: dict[str, object]) -> str | None:
        """The first column of the first row, if the statement returns any."""
        if not self._sqlite:
            async with self._autocommit.connect() as connection:
                result = await connection.execute(statement, parameters)
                return result.scalar_one() if result.returns_rows else None
        # SQLAlchemy's statement and result machinery would cost more than SQLite's own work here (about 150 of
        # 300 microseconds a claim): the held connection's driver runs the text as it is, named parameters and all.
        driver = self._driver or await self._open()
        try:
            cursor = await driver.execute(statement.text, parameters)
            try:
                row = await cursor.fetchone()
            finally:
                await cursor.close()
        except sqlite3.Error:
            await self.aclose()  # a broken connection is replaced on the next claim
            raise
        return None if row is None else str(row[0])

    async def _open(self) -> aiosqlite.Connection:
        async with self._opening:
            if self._driver is None:
                held = await (await self._engine.connect()).execution_options(isolation_level="AUTOCOMMIT")
                try:
                    synchronous = (await held.exec_driver_sql("PRAGMA synchronous")).scalar_one()
                    if synchronous == _SQLITE_FULL:
                        await held.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    driver = (await held.get_raw_connection()).driver_connection
                except BaseException:
                    await held.close()
                    raise
                if not isinstance(driver, aiosqlite.Connection):
                    await held.close()
                    msg = "the SQLite engine is expected to run on aiosqlite"
                    raise TypeError(msg)
                self._held, self._driver = held, driver
                self._restore_synchronous = synchronous if synchronous == _SQLITE_FULL else None
            return self._driver
