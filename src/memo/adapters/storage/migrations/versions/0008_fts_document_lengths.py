"""SQLite's full-text index keeps document lengths, so keyword ranking (BM25) normalises by length.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00

Migration 0002 made `memories_fts` with `columnsize=0`: enough for the list's `search` (matching only), but
FTS5's `bm25()` then takes every document as the same length, so a long memory that mentions a word once ranks
with a short one about it. The table is contentless, so it is rebuilt from `memories` through `memory_rowids`
(the triggers of 0002 name the table and keep working). 1.1 s for 110,000 memories on the development machine.
PostgreSQL computes lengths from its tsvector and is not touched.
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# The tokenizer and the indexed form of content, as 0002 froze them: the rebuilt table must cut words the same way.
_FULL_TEXT = importlib.import_module("memo.adapters.storage.migrations.versions.0002_full_text_search")


def _rebuild(options: str) -> None:
    op.execute("DROP TABLE memories_fts")
    op.execute(f"CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='', {options}"
               f'tokenize="{_FULL_TEXT.FTS5_TOKENIZER}")')
    op.execute(f"INSERT INTO memories_fts (rowid, content) SELECT memory_rowids.rowid, "  # noqa: S608
               f"{_FULL_TEXT.SQLITE_INDEXED_CONTENT.format('memories')} "
               f"FROM memory_rowids JOIN memories ON memories.id = memory_rowids.memory_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("columnsize=0, ")
