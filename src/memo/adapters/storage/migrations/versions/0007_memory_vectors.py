"""The vectors of the embedded default: float32 blobs in the SQLite file beside the memories (SQLite only).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00

`memory_vectors` holds one unit vector per memory (little-endian float32, `dimensions` of them, made by `model`)
with the columns search filters on, so the vector index filters without reading `memories`; it goes with its
memory (ON DELETE CASCADE). The rest lets a process that holds an owner's vectors in memory catch up with what
other processes changed by reading only the changes:

- `memory_vector_generations` counts each owner's changes; `generation` on a vector row is the count when it was
  last written (the vector index stamps it), indexed with the owner, so "written since n" is a range scan;
- a delete leaves a tombstone in `memory_vector_tombstones` at the count it moved to, by trigger, so a cascade
  from a deleted memory is seen like any other delete; `pruned_through` is the count up to which an owner's
  tombstones were dropped (a process further behind than that reloads the owner).

PostgreSQL gets none of it: its vector index (pgvector) keeps a table of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

_TOMBSTONE_TRIGGER = """CREATE TRIGGER memory_vectors_after_delete AFTER DELETE ON memory_vectors BEGIN
    INSERT INTO memory_vector_generations (owner_id, generation, pruned_through) VALUES (OLD.owner_id, 1, 0)
        ON CONFLICT (owner_id) DO UPDATE SET generation = generation + 1;
    INSERT INTO memory_vector_tombstones (owner_id, generation, memory_id)
        SELECT OLD.owner_id, generation, OLD.memory_id FROM memory_vector_generations WHERE owner_id = OLD.owner_id;
END"""


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _sqlite():
        return
    op.create_table(
        "memory_vectors",
        sa.Column("memory_id", GUID(), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["memory_id"], ["memories.id"], name="fk_memory_vectors_memory_id_memories",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("memory_id", name="pk_memory_vectors"),
    )
    op.create_index("ix_memory_vectors_owner_generation", "memory_vectors", ["owner_id", "generation"])
    op.create_table(
        "memory_vector_generations",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name="pk_memory_vector_generations"),
    )
    op.create_table(
        "memory_vector_tombstones",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("memory_id", GUID(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "generation", "memory_id", name="pk_memory_vector_tombstones"),
    )
    op.execute(_TOMBSTONE_TRIGGER)


def downgrade() -> None:
    if not _sqlite():
        return
    op.execute("DROP TRIGGER IF EXISTS memory_vectors_after_delete")
    op.drop_table("memory_vector_tombstones")
    op.drop_table("memory_vector_generations")
    op.drop_index("ix_memory_vectors_owner_generation", table_name="memory_vectors")
    op.drop_table("memory_vectors")
