"""Nonces in the database (no REDIS_URL), so every worker process and every restart sees the ones recorded.

A claim is one statement that the database runs atomically on SQLite and PostgreSQL alike: insert the nonce, or,
when it is already there, let the row decide. An expired row is taken over as if new; a live row refuses, unless
it and this use are both shared (`mode` "s"); a refused use marks the row "r", which is exclusive from then on and
tells this call it lost. Two processes racing on one nonce cannot both win: SQLite serialises the writes, and
PostgreSQL's `ON CONFLICT DO UPDATE` locks the row it conflicts with.

On a SQLite file a claim is one statement in a turn of the process's one writer (`memo.adapters.sqlite_writer`), run
on its driver connection past SQLAlchemy's machinery, and the claim returns once the group commit that holds it is
done: the nonces of concurrent requests, and their writes, share one COMMIT. PostgreSQL takes an autocommit pooled
connection per claim: one round trip, no BEGIN or COMMIT.

Expired rows are purged in bounded batches, at the first claim, then every `purge_every` claims or `purge_after_s`
seconds: a batch is larger than what as many claims can add, so the table follows the live window. Any database
error is `NonceStoreUnavailable`: replay protection fails closed.
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3

from sqlalchemy import TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.sqlite_writer import writer_of
from memo.application.errors import NonceStoreUnavailable, StorageUnavailable
from memo.application.ports import Clock, NonceStore

SHARED, EXCLUSIVE, REFUSED = "s", "x", "r"  # `nonces.mode`; "x" and "r" are both exclusive, "r" also says "refused"
_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,64}")

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
        except (SQLAlchemyError, sqlite3.Error, OSError, StorageUnavailable) as error:  # the last: a failed group
            raise NonceStoreUnavailable from error
        return mode != REFUSED

    async def aclose(self) -> None:
        """Commit the claims still open and give the writer's connection back, before the engine is disposed."""
        writer = writer_of(self._engine)
        if writer is not None:
            await writer.aclose()

    async def _run(self, statement: TextClause, parameters: dict[str, object]) -> str | None:
        """The first column of the first row, if the statement returns any."""
        if not self._sqlite:
            async with self._autocommit.connect() as connection:
                result = await connection.execute(statement, parameters)
                return result.scalar_one() if result.returns_rows else None
        # SQLAlchemy's statement and result machinery would cost more than SQLite's own work here (about 150 of
        # 300 microseconds a claim): the writer's driver runs the text as it is, named parameters and all.
        writer = writer_of(self._engine)
        if writer is None:  # an in-memory database: one connection, no other writer to wait for
            async with self._engine.begin() as connection:
                result = await connection.execute(statement, parameters)
                return result.scalar_one() if result.returns_rows else None
        async with writer.turn(savepoint=False):  # one statement: applied whole or not at all
            rows = await writer.driver.execute_fetchall(statement.text, parameters)  # one call: its cursor closed
            writer.wrote()
        row = next(iter(rows), None)
        await writer.durable()  # a claim counts once it is committed, with the group it joined
        return None if row is None else str(row[0])
