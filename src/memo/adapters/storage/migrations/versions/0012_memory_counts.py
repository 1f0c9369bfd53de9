"""Each owner's number of memories, kept by triggers, so an unfiltered list's `total` is one row (SQLite only).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00

`memory_counts` holds one row per owner that ever had a memory: `total` is how many it has now. Triggers on
`memories` move it in the statement that inserts, deletes or re-owns a memory, so it commits or rolls back with
that write, whatever wrote it (the repositories, the writer's driver inserts, a cascade from a deleted owner); the
row goes with its owner. Counting at read time walked the owner's whole index: 0.34 ms of SQLite's own time per
page at 10,000 memories, growing with every memory (docs/decisions.md, "Memories").

PostgreSQL gets none of it: a counter row there is locked from an owner's insert until its commit, so concurrent
creates of one owner would wait for each other's commit; it keeps counting with its index-only scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

_ADD_ONE = """INSERT INTO memory_counts (owner_id, total) VALUES (new.owner_id, 1)
        ON CONFLICT (owner_id) DO UPDATE SET total = total + 1;"""
_TAKE_ONE = "UPDATE memory_counts SET total = total - 1 WHERE owner_id = old.owner_id;"
_TRIGGERS = {
    "memory_counts_after_insert": f"AFTER INSERT ON memories BEGIN\n        {_ADD_ONE}\n    END",
    "memory_counts_after_delete": f"AFTER DELETE ON memories BEGIN\n        {_TAKE_ONE}\n    END",
    "memory_counts_after_owner_change": (f"AFTER UPDATE OF owner_id ON memories WHEN old.owner_id IS NOT new.owner_id "
                                         f"BEGIN\n        {_TAKE_ONE}\n        {_ADD_ONE}\n    END"),
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _sqlite():
        return
    op.create_table(
        "memory_counts",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_memory_counts_owner_id_owners",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id", name="pk_memory_counts"),
    )
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute("INSERT INTO memory_counts (owner_id, total) SELECT owner_id, count(*) FROM memories GROUP BY owner_id")


def downgrade() -> None:
    if not _sqlite():
        return
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("memory_counts")
