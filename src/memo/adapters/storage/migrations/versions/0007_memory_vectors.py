"""The vectors of the embedded default: float32 blobs in the SQLite file beside the memories (SQLite only).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00

`memory_vectors` holds one unit vector per memory (little-endian float32, `dimensions` of them, made by `model`)
with the columns search filters on, so the vector index filters without reading `memories`; it goes with its
memory (ON DELETE CASCADE). `memory_vector_generations` counts the changes to each owner's vectors: triggers bump
it on every insert, update and delete, whoever writes (the API, a `memo worker` beside it, a cascade from a
deleted memory), so a process holding an owner's vectors in memory sees with one primary-key read whether they
are still current. PostgreSQL gets neither: its vector index (pgvector) keeps a table of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

_BUMP = """INSERT INTO memory_vector_generations (owner_id, generation) VALUES ({row}.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET generation = generation + 1;"""
_TRIGGERS = {
    "memory_vectors_after_insert": ("AFTER INSERT", _BUMP.format(row="NEW")),
    "memory_vectors_after_update": ("AFTER UPDATE", _BUMP.format(row="OLD") + "\n    " + _BUMP.format(row="NEW")),
    "memory_vectors_after_delete": ("AFTER DELETE", _BUMP.format(row="OLD")),
}


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
        sa.ForeignKeyConstraint(["memory_id"], ["memories.id"], name="fk_memory_vectors_memory_id_memories",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("memory_id", name="pk_memory_vectors"),
    )
    op.create_index("ix_memory_vectors_owner_id", "memory_vectors", ["owner_id"])
    op.create_table(
        "memory_vector_generations",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name="pk_memory_vector_generations"),
    )
    for name, (event, body) in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {event} ON memory_vectors BEGIN\n    {body}\nEND")


def downgrade() -> None:
    if not _sqlite():
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("memory_vector_generations")
    op.drop_index("ix_memory_vectors_owner_id", table_name="memory_vectors")
    op.drop_table("memory_vectors")
