"""SQLite's full-text entries of a group commit's new memories are written once, just before its COMMIT (SQLite only).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-13 10:00:00

FTS5 writes the terms it holds in memory out as a new segment at every savepoint, and SQLite opens one for each
statement that writes inside a transaction (each unit of work in the writer's group has its own besides), so the
insert trigger of 0002 made every new memory a segment of its own, tokenised, written and later merged alone.
Written by one statement for the whole group, they are one segment (docs/benchmarks.md has the instructions saved).

- `memories_fts_deferral` holds one row while the writer's group defers (`SqliteWriter`), and never longer: its
  deferred foreign key names a row that cannot exist, so SQLite refuses to COMMIT while it is there (on a
  connection with foreign keys on, as all of Memo's are). No other connection (a migration, a test's session, any
  tool) ever sees the row, so they all index as 0002 did, in the statement that writes.
- `memories_fts_pending` names the memories inserted while deferring, which have no index entry yet. Deleting the
  deferral row writes their entries from their current content and empties it, in the same statement; so no
  transaction commits with a row still pending, and nothing is left for anyone to flush later.
- The update and delete triggers leave a pending memory's (absent) entry alone: a contentless FTS5 'delete' must
  be given exactly the indexed content, or the index is corrupt. Every other memory is handled as in 0002, at once,
  so after every statement of every transaction an indexed memory is indexed with its current content, and a
  search in the middle of a group still finds a memory another turn of it edited.

The trigger names of 0002 are kept. PostgreSQL is not touched.
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# The indexed form of content, as 0002 froze it: entries written here must be the ones 0002 would have written.
_FULL_TEXT = importlib.import_module("memo.adapters.storage.migrations.versions.0002_full_text_search")
_OLD, _NEW = _FULL_TEXT.SQLITE_INDEXED_CONTENT.format("old"), _FULL_TEXT.SQLITE_INDEXED_CONTENT.format("new")
_INDEXED = _FULL_TEXT.SQLITE_INDEXED_CONTENT.format("memories")
_NOT_PENDING = "rowid NOT IN (SELECT rowid FROM memories_fts_pending)"

# The order of the joins is fixed (CROSS JOIN): from the few pending rows out, never a walk of every memory.
_WRITE_PENDING = f"""INSERT INTO memories_fts (rowid, content)
            SELECT memory_rowids.rowid, {_INDEXED} FROM memories_fts_pending
            CROSS JOIN memory_rowids ON memory_rowids.rowid = memories_fts_pending.rowid
            CROSS JOIN memories ON memories.id = memory_rowids.memory_id"""  # noqa: S608 - every piece is a constant
_EMPTY_PENDING = "DELETE FROM memories_fts_pending"

_TRIGGERS = {
    # Exactly one of the two insert triggers runs for a row, whichever order SQLite runs them in.
    "memories_fts_after_insert": f"""AFTER INSERT ON memories
    WHEN NOT EXISTS (SELECT 1 FROM memories_fts_deferral) BEGIN
        INSERT INTO memory_rowids (memory_id) VALUES (new.id);
        INSERT INTO memories_fts (rowid, content) VALUES (last_insert_rowid(), {_NEW});
    END""",  # noqa: S608 - every piece is a constant of this module
    "memories_fts_after_insert_deferred": """AFTER INSERT ON memories
    WHEN EXISTS (SELECT 1 FROM memories_fts_deferral) BEGIN
        INSERT INTO memory_rowids (memory_id) VALUES (new.id);
        INSERT INTO memories_fts_pending (rowid) VALUES (last_insert_rowid());
    END""",
    "memories_fts_after_update": f"""AFTER UPDATE OF content ON memories
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {_OLD} FROM memory_rowids WHERE memory_id = old.id AND {_NOT_PENDING};
        INSERT INTO memories_fts (rowid, content)
            SELECT rowid, {_NEW} FROM memory_rowids WHERE memory_id = new.id AND {_NOT_PENDING};
    END""",  # noqa: S608 - every piece is a constant of this module
    "memories_fts_after_delete": f"""AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {_OLD} FROM memory_rowids WHERE memory_id = old.id AND {_NOT_PENDING};
        DELETE FROM memories_fts_pending WHERE rowid IN (SELECT rowid FROM memory_rowids WHERE memory_id = old.id);
        DELETE FROM memory_rowids WHERE memory_id = old.id;
    END""",  # noqa: S608 - every piece is a constant of this module
    "memories_fts_deferral_after_delete": f"""AFTER DELETE ON memories_fts_deferral BEGIN
        {_WRITE_PENDING};
        {_EMPTY_PENDING};
    END""",
}

# 0002's triggers, for the downgrade.
_TRIGGERS_OF_0002 = {
    "memories_fts_after_insert": f"""AFTER INSERT ON memories BEGIN
        INSERT INTO memory_rowids (memory_id) VALUES (new.id);
        INSERT INTO memories_fts (rowid, content) VALUES (last_insert_rowid(), {_NEW});
    END""",  # noqa: S608 - every piece is a constant of this module
    "memories_fts_after_update": f"""AFTER UPDATE OF content ON memories
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {_OLD} FROM memory_rowids WHERE memory_id = old.id;
        INSERT INTO memories_fts (rowid, content)
            SELECT rowid, {_NEW} FROM memory_rowids WHERE memory_id = new.id;
    END""",  # noqa: S608 - every piece is a constant of this module
    "memories_fts_after_delete": f"""AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content)
            SELECT 'delete', rowid, {_OLD} FROM memory_rowids WHERE memory_id = old.id;
        DELETE FROM memory_rowids WHERE memory_id = old.id;
    END""",  # noqa: S608 - every piece is a constant of this module
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _create(triggers: dict[str, str]) -> None:
    for name, body in triggers.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade() -> None:
    if not _sqlite():
        return
    op.execute("CREATE TABLE memories_fts_pending (rowid INTEGER PRIMARY KEY)")
    # `never` names row 0, which the CHECK keeps out: a row here breaks its deferred key until it is deleted
    op.execute("CREATE TABLE memories_fts_deferral (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "never INTEGER NOT NULL DEFAULT 0 CHECK (never = 0) "
               "REFERENCES memories_fts_deferral (id) DEFERRABLE INITIALLY DEFERRED)")
    for name in _TRIGGERS_OF_0002:
        op.execute(f"DROP TRIGGER {name}")
    _create(_TRIGGERS)


def downgrade() -> None:
    if not _sqlite():
        return
    # Nothing is pending in a committed database (the deferral's key sees to it); were anything, it gets its entry.
    op.execute(_WRITE_PENDING)
    op.execute(_EMPTY_PENDING)
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE memories_fts_deferral")
    op.execute("DROP TABLE memories_fts_pending")
    _create(_TRIGGERS_OF_0002)
