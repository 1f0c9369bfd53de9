"""Engines for the embedded SQLite file and for PostgreSQL, each set up so that an acknowledged write is durable.

SQLite, on every new connection:
- `journal_mode=WAL`: readers never block the writer, and a commit is one append to the log;
- `synchronous=NORMAL` by default: a commit is written to the log before it is acknowledged, so a `201`
  survives a process crash or `kill -9`; the log is fsynced at checkpoints, so an OS crash or power cut may lose
  the last moments of commits. `FULL` (MEMO_SQLITE_SYNCHRONOUS=full) fsyncs every commit and survives a power
  cut too, at the price of an fsync on the event loop per write (see docs/benchmarks.md for both figures);
- the writer's statements run on the event loop thread (`sqlite_inline.py`), so a unit of work runs without
  interleaving; reads that stand alone run on reader connections of their own (`sqlite_readers.py`);
- `foreign_keys=ON` (off by default in SQLite), `busy_timeout` so a second writer waits instead of failing at once.

The database file is created 0600 before SQLite first opens it (and its folder 0700 when missing), so its
`-wal` and `-shm` files, which SQLite creates with the database's own mode, are private too.

Keyword search needs nothing from the connection: FTS5 and its triggers (migration 0002) live in the database,
so every writer (Memo, or any SQLite client with FTS5) keeps the index in step.

PostgreSQL: a connection idle in the pool for a while is pinged before use, and replaced when the server dropped
it (`idle_ping.py`: SQLAlchemy's `pool_pre_ping` pings on every checkout, a round trip per request), and a
server-side `statement_timeout`, so a stuck query fails fast as `StorageUnavailable` instead of holding a worker.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from memo.adapters.private_files import create_private_dir, create_private_file, make_private
from memo.adapters.sqlite_writer import SQLITE_BUSY_TIMEOUT_MS
from memo.adapters.storage.idle_ping import PING_AFTER_IDLE_S, ping_after_idle
from memo.adapters.storage.sqlite_inline import inline_connector

SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL")
SQLITE_COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def database_url(url: str | URL) -> URL:
    """The async driver's URL for a plain one: `postgres://`, `postgresql://` and `sqlite://` are accepted too."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://")
    return parsed.set(drivername=_DRIVERS[backend])


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_directory(url: URL) -> None:
    """Make the database private before SQLite opens it: a missing folder is created 0700, the file 0600.

    SQLite gives the `-wal` and `-shm` files it creates the database file's mode, so they are 0600 too; an
    existing database, `-wal`, `-shm` or `-journal` that group or others can read is made private (with a
    warning). An existing folder is left as it is: it may be shared, like `/tmp` (the data dir is checked apart).
    """
    path = sqlite_file(url)
    if path is None:
        return
    path = path.expanduser()
    if not path.parent.is_dir():
        create_private_dir(path.parent)
    create_private_file(path)
    for suffix in SQLITE_COMPANION_SUFFIXES:
        make_private(path.with_name(path.name + suffix))


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout_s: float = 10.0,
    statement_timeout_ms: int = 10_000,
    connect_timeout_s: float = 5.0,
    sqlite_synchronous: str = "NORMAL",
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
    echo: bool = False,
) -> AsyncEngine:
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size, max_overflow=max_overflow, pool_timeout_s=pool_timeout_s,
                              synchronous=sqlite_synchronous.upper(), echo=echo)
    engine = create_async_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_recycle=1_800,
        connect_args={
            "timeout": connect_timeout_s,
            "server_settings": {"statement_timeout": str(statement_timeout_ms), "application_name": "memo"},
        },
    )
    ping_after_idle(engine, ping_after_idle_s)
    return engine


def _sqlite_engine(url: URL, *, pool_size: int, max_overflow: int, pool_timeout_s: float, synchronous: str,
                   echo: bool) -> AsyncEngine:
    if synchronous not in SQLITE_SYNCHRONOUS_MODES:
        msg = f"SQLite synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}"
        raise ValueError(msg)
    ensure_sqlite_directory(url)
    options: dict[str, Any] = {}
    path = sqlite_file(url)
    if path is not None:  # the in-memory database gets SQLAlchemy's single shared connection instead
        options = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout_s,
                   "async_creator": inline_connector(path.expanduser())}
    engine = create_async_engine(url, echo=echo, **options)
    event.listen(engine.sync_engine, "connect", partial(_prepare_sqlite_connection, synchronous=synchronous))
    return engine


def _prepare_sqlite_connection(dbapi_connection: Any, _record: object, *, synchronous: str) -> None:  # noqa: ANN401
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
