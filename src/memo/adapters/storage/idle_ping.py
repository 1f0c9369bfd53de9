"""A pooled PostgreSQL connection is pinged before use only when it has sat idle in the pool for a while.

SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip for each unit of work, a sixth of a
signed create's (docs/benchmarks.md). A connection the server or a proxy drops is one that sat idle (an idle
timeout, a restart, a failover while the server had nothing to do); one checked in moments ago was talking to the
server moments ago. So a connection idle for less than `idle_s` goes straight to the request, and one idle longer
is pinged first and, when the ping finds it dead, replaced along with every connection pooled before it, as
`pool_pre_ping` does.

What is given up: a connection the server drops within `idle_s` of its last use fails that one request with
`StorageUnavailable` (a 503, which a client may retry), and that failure invalidates the rest of the pool, so the
requests after it reconnect. `pool_pre_ping` itself has the same window between its ping and the statement.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

PING_AFTER_IDLE_S = 1.0
_CHECKED_IN_AT = "memo_checked_in_at"


def ping_after_idle(engine: AsyncEngine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Ping a connection on checkout when it was checked in more than `idle_s` seconds ago."""
    dialect = engine.sync_engine.dialect
    pool = engine.sync_engine.pool

    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:  # noqa: ANN401
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry,  # noqa: ANN401
                 _proxy: PoolProxiedConnection) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < idle_s:  # new (info is cleared on reconnect) or just used
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise InvalidatePoolError(str(error)) from error  # the pool reconnects, and so do the older ones
            raise

    event.listen(pool, "checkin", checked_in)
    event.listen(pool, "checkout", checkout)
