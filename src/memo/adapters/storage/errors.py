"""Turn database failures that a retry can cure into `StorageUnavailable`; let everything else surface as a bug.

Connection loss, a locked SQLite file, a statement timeout, an exhausted pool or a server shutting down all mean
"try again shortly" (503), whichever driver reports them. Integrity, programming and data errors, and SQLite's
"no such table" or syntax errors, are defects in Memo (or a missed migration) and keep their own type, so they
are loud in the logs instead of looking like an outage.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from memo.application.errors import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# SQLSTATE classes: 08 connection exception, 40 transaction rollback (serialization, deadlock),
# 53 insufficient resources, 57 operator intervention (statement timeout, shutdown), 58 system (I/O) error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# SQLite reports a missing table or a syntax error as an OperationalError too (SQLITE_ERROR): those are bugs.
_TRANSIENT_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL",
                            "SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOMEM", "SQLITE_INTERRUPT")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, (PoolTimeoutError, DisconnectionError, OSError)):
        return True
    if isinstance(error, sqlite3.Error):  # raised by the driver itself, on the writer's prebuilt statements
        return _transient_sqlite(error)
    return _transient_dbapi(error)


def transient_sqlstate(sqlstate: object) -> bool:
    """A SQLSTATE a retry can cure: for errors raised by a driver itself, past SQLAlchemy."""
    return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


def _transient_dbapi(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlite_error = getattr(error.orig, "sqlite_errorname", None)
    if isinstance(sqlite_error, str):
        return sqlite_error.startswith(_TRANSIENT_SQLITE_ERRORS)
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return isinstance(error, (OperationalError, InterfaceError))


def _transient_sqlite(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(_TRANSIENT_SQLITE_ERRORS)


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeoutError, DisconnectionError, OSError, sqlite3.Error) as exc:  # OSError: timeouts too
        if is_unavailable(exc):
            raise StorageUnavailable from exc
        raise


def translating(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return await method(*args, **kwargs)

    return wrapper
