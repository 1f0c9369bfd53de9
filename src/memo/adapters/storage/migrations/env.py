"""Alembic environment for Memo: its own metadata, batch mode on SQLite, and the connection migrate.py hands in.

`memo.adapters.storage.migrate` opens the connection (and its transaction and lock) itself and passes it as
`config.attributes["connection"]`, so migrations run inside an already running event loop. Without one (the
advanced-alchemy command line), this opens its own engine from the URL in the config.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from memo.adapters.storage.migrate import compare_type, include_object
from memo.adapters.storage.orm import metadata

config = context.config
VERSION_TABLE = getattr(config, "version_table_name", None) or "alembic_version"


def _options() -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "render_as_batch": True,  # SQLite alters a table by copying it; batch mode writes that for us
        "compare_type": compare_type,
        "compare_server_default": True,
        "include_object": include_object,  # the full-text objects of 0002 live outside the ORM metadata
    }


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url") or getattr(config, "db_url", None),
                      literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_options())
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = getattr(config, "db_url", None) or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL to migrate")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
elif (handed_in := config.attributes.get("connection")) is not None:
    run_on(handed_in)
else:
    asyncio.run(run_online())
