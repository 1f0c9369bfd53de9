"""Turn database failures that a retry can cure into `StorageUnavailable`; let everything else surface as a bug.

Connection loss, a locked SQLite file, a statement timeout, an exhausted pool or a server shutting down all mean
"try again shortly" (503), whichever driver reports them. Integrity, programming and data errors are defects in
Memo and keep their own type, so they are loud in the logs instead of looking like an outage.
"""

from __future__ import annotations

import functools
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


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, (PoolTimeoutError, DisconnectionError, OSError, TimeoutError)):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, (OperationalError, InterfaceError)):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except (DBAPIError, PoolTimeoutError, DisconnectionError, OSError, TimeoutError) as exc:
        if is_unavailable(exc):
            raise StorageUnavailable from exc
        raise


def translating(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return await method(*args, **kwargs)

    return wrapper
