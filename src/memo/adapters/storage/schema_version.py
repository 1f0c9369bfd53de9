"""The schema revision of the database beside the head of the migrations shipped with this code.

The head is read once from the migration scripts; the database's revision is read on every call, on a pooled
connection of the app's own engine (no engine of its own per probe, as `migrate.current_revision` makes).
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.storage.errors import translated
from memo.adapters.storage.migrate import MIGRATIONS_DIR, VERSION_TABLE
from memo.application.ports import SchemaVersion


def shipped_head() -> str:
    """The last revision of the migrations in this package (one head: Memo's history is linear)."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        msg = f"no migrations under {MIGRATIONS_DIR}"
        raise RuntimeError(msg)
    return head


class AlembicSchemaVersion(SchemaVersion):
    backend = "alembic"

    def __init__(self, engine: AsyncEngine, *, head: str | None = None) -> None:
        self._engine = engine
        self._head = head or shipped_head()

    def head(self) -> str:
        return self._head

    async def current(self) -> str | None:
        with translated():
            async with self._engine.connect() as connection:
                return await connection.run_sync(_revision)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
