"""SQLite calls made on the event loop's own thread instead of aiosqlite's worker thread.

In WAL mode with synchronous=NORMAL a statement or a commit takes microseconds, while moving each call to a
worker thread and back costs tens of microseconds of scheduling and lets other requests run in the middle of a
transaction. Run inline, a unit of work's statements execute back to back with nothing interleaved, so two
writers never meet inside SQLite (no busy waits, no snapshot conflicts) and each call is cheap. Opening and
closing a connection still go through aiosqlite's worker, which SQLAlchemy's aiosqlite dialect expects.

The writer's connections (and the key store's, which shares its engine) run this way, and so do the readers of
bounded reads (a get, a first page); other reads take connections on aiosqlite's own threads
(`sqlite_readers.py`). `_execute` is aiosqlite's, not a public hook: pyproject.toml bounds the release, and
`tests/integration/test_sqlite_inline.py` fails should a new one route calls around it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite


class LoopThreadConnection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if not self._running or not self._connection:
            msg = "Connection closed"
            raise ValueError(msg)
        return fn(*args, **kwargs)


def inline_connector(path: Path) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy: a connection usable from the loop thread (check_same_thread off)."""

    async def connect() -> aiosqlite.Connection:
        connection = LoopThreadConnection(partial(sqlite3.connect, str(path), check_same_thread=False),
                                          iter_chunk_size=64)
        connection._thread.daemon = True  # noqa: SLF001 - as SQLAlchemy's dialect does: never hold up an exit
        return await connection

    return connect
