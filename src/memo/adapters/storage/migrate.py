"""Schema migrations, callable from async code (`memo db upgrade`, and `memo serve` on every start).

Alembic runs through advanced-alchemy's `AlembicCommands` on a connection opened here and handed to `env.py`,
so nothing calls `asyncio.run` inside the running loop. Each run is one transaction under a lock, which makes
it atomic and safe when several processes start at once: PostgreSQL takes a transaction-scoped advisory lock,
SQLite a `BEGIN IMMEDIATE` write lock (its DDL is transactional too). Upgrading a database that is already at
the target revision does nothing, so calling `upgrade` on every start is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from advanced_alchemy.alembic.commands import AlembicCommands
from advanced_alchemy.config import AlembicAsyncConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.types import GUID
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from memo.adapters.storage.engine import database_url, ensure_sqlite_directory
from memo.adapters.storage.errors import translated

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
_ADVISORY_LOCK_KEY = 0x6D656D6F_6D696772  # "memomigr": any constant shared by every Memo process

_Action = Callable[[AlembicCommands], None]


async def upgrade(url: str, revision: str = "head") -> None:
    await _migrate(url, lambda commands: commands.upgrade(revision))


async def downgrade(url: str, revision: str) -> None:
    await _migrate(url, lambda commands: commands.downgrade(revision))


async def current_revision(url: str) -> str | None:
    """The revision the database is at; None before the first migration."""
    engine = _engine(url)
    try:
        with translated():
            async with engine.connect() as connection:
                return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def compare_type(context: MigrationContext, _inspected_column: object, _metadata_column: object,
                 _inspected_type: object, metadata_type: Any) -> bool | None:  # noqa: ANN401 - Alembic's hook
    """Alembic's type comparison, minus one false alarm: SQLite reflects GUID's BINARY(16) as NUMERIC(16)."""
    if context.dialect.name == "sqlite" and isinstance(metadata_type, GUID):
        return False
    return None


# Full-text objects of migration 0002 that are not in the ORM metadata, because they exist on one dialect only
# and no query goes through the ORM to them: PostgreSQL's generated `memories.content_tsv` and its GIN index;
# SQLite's FTS5 table `memories_fts` (with the shadow tables FTS5 creates for it) and its key table
# `memory_rowids`. Schema comparisons leave them out; tests/integration/test_migrations.py checks them itself.
SEARCH_ONLY_TABLES = frozenset({"memory_rowids", "memories_fts"})
SEARCH_ONLY_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")
SEARCH_ONLY_COLUMNS = frozenset({("memories", "content_tsv")})
SEARCH_ONLY_INDEXES = frozenset({"ix_memories_content_tsv"})
# The vector indexes' own tables: SQLite's (migration 0007, written by memo.adapters.vectors.sqlite) and
# pgvector's `memory_vectors_<dimensions>`, made by its adapter at first use; neither is in the ORM metadata.
VECTOR_TABLE_PREFIX = "memory_vector"
# kept by triggers: migration 0012 (SQLite only), 0013 and 0014 (PostgreSQL only)
COUNT_TABLES = frozenset({"memory_counts", "api_key_changes", "memory_count_deltas"})


def include_object(item: Any, name: str | None, type_: str,  # noqa: ANN401 - Alembic's hook, positional
                   reflected: bool, _compare_to: object) -> bool:  # noqa: FBT001
    """Alembic's filter for autogenerate and compare_metadata: all but the full-text, vector and count objects."""
    if not reflected or name is None:
        return True
    if type_ == "table" and (name.startswith(VECTOR_TABLE_PREFIX) or name in COUNT_TABLES):
        return False
    if type_ == "table":
        return not (name in SEARCH_ONLY_TABLES or (name.startswith("memories_fts_")
                                                   and name.endswith(SEARCH_ONLY_SHADOW_SUFFIXES)))
    if type_ == "column":
        return (item.table.name, name) not in SEARCH_ONLY_COLUMNS
    if type_ == "index":
        return name not in SEARCH_ONLY_INDEXES
    return True


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _engine(url: str) -> AsyncEngine:
    parsed = database_url(url)
    ensure_sqlite_directory(parsed)
    return create_async_engine(parsed, poolclass=pool.NullPool)


async def _migrate(url: str, action: _Action) -> None:
    engine = _engine(url)
    try:
        with translated():
            async with engine.connect() as connection:
                await _lock(connection)
                await connection.run_sync(_run, engine, action)
                await connection.commit()
    finally:
        await engine.dispose()


async def _lock(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    else:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def _run(connection: Connection, engine: AsyncEngine, action: _Action) -> None:
    config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS_DIR),
            script_config="",  # no alembic.ini: an unrelated one in the working folder must not be read
            version_table_name=VERSION_TABLE,
            render_as_batch=True,
            compare_type=True,
        ),
    )
    commands = AlembicCommands(sqlalchemy_config=config)
    commands.config.attributes["connection"] = connection
    action(commands)
