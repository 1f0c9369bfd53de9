"""What the vector index holds for each memory: the model that embedded it and the text it saw.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00

`memory_index_states` has one row per indexed memory, removed with the memory (ON DELETE CASCADE). The indexing
job skips a memory whose content hash and model are already there; `memory_version` lets the stores count what
is stale in SQL (a version moved on, or another model) without hashing content in the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_index_states",
        sa.Column("memory_id", GUID(), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("memory_version", sa.Integer(), nullable=False),
        sa.Column("indexed_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["memory_id"], ["memories.id"], name="fk_memory_index_states_memory_id_memories",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("memory_id", name="pk_memory_index_states"),
    )
    op.create_index("ix_memory_index_states_owner_id", "memory_index_states", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_memory_index_states_owner_id", table_name="memory_index_states")
    op.drop_table("memory_index_states")
