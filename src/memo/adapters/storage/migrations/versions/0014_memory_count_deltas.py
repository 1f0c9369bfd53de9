"""Each owner's number of memories and count of changes as rows that writers only insert (PostgreSQL only).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14 10:00:00

A list's exact `total` cost PostgreSQL a heap visit per match (2-19 ms at 100,000 memories, docs/benchmarks.md)
where its page costs 0.15-2 ms. A counter row per owner, as SQLite keeps in 0012, would be locked from an owner's
insert to its commit and make that owner's concurrent creates wait for each other. So each write adds a row
instead: statement triggers on `memories` and `memory_tags` insert one `memory_count_deltas` row per owner the
statement touched, with `total` the memories it added minus those it removed and `changes` how many rows it
touched (at least one). No writer ever updates or deletes a row, so no writer waits on another's lock. An
owner's total is the sum of its `total`s; the sum of its `changes` grows with every commit that touches its
memories or their tags, which tells a reader whether a filtered total it counted earlier still holds
(`memo.adapters.storage.list_totals`). Readers fold an owner's rows into one when they pile up.

The triggers run on every writer: Memo's repositories, raw SQL, a cascade from a deleted memory (its tags) or
owner (the owner's rows go with it: the triggers add none for an owner no longer there). A TRUNCATE adds, for
every owner with memories, the row that takes its total to zero and counts one change, so the sums stay right
and the change count never goes back. The memories written before this revision are counted here, in the
migration's own transaction: creating the triggers locks out writers until it commits.
SQLite needs none of it (0012 keeps its counts).
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import GUID
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

# function name -> the INSERT it runs; `touched` rows of an owner no longer there (being deleted) add nothing
_INSERT = "INSERT INTO memory_count_deltas (owner_id, total, changes)"
_FUNCTIONS = {
    "memo_memories_inserted": """
            SELECT owner_id, count(*), count(*) FROM new_rows GROUP BY owner_id""",
    "memo_memories_deleted": """
            SELECT owner_id, -count(*), count(*) FROM old_rows AS touched
            WHERE EXISTS (SELECT 1 FROM owners WHERE owners.id = touched.owner_id) GROUP BY owner_id""",
    "memo_memories_updated": """
            SELECT owner_id, sum(moved), count(DISTINCT id) FROM (
                SELECT owner_id, id, 1 AS moved FROM new_rows
                UNION ALL SELECT owner_id, id, -1 FROM old_rows) AS touched
            WHERE EXISTS (SELECT 1 FROM owners WHERE owners.id = touched.owner_id) GROUP BY owner_id""",
    "memo_memories_truncated": """
            SELECT owner_id, -sum(total), 1 FROM memory_count_deltas GROUP BY owner_id HAVING sum(total) <> 0""",
    "memo_memory_tags_inserted": """
            SELECT owner_id, 0, count(*) FROM new_rows AS touched
            WHERE EXISTS (SELECT 1 FROM owners WHERE owners.id = touched.owner_id) GROUP BY owner_id""",
    "memo_memory_tags_deleted": """
            SELECT owner_id, 0, count(*) FROM old_rows AS touched
            WHERE EXISTS (SELECT 1 FROM owners WHERE owners.id = touched.owner_id) GROUP BY owner_id""",
    "memo_memory_tags_updated": """
            SELECT owner_id, 0, count(DISTINCT (memory_id, tag)) FROM (
                SELECT owner_id, memory_id, tag FROM new_rows
                UNION ALL SELECT owner_id, memory_id, tag FROM old_rows) AS touched
            WHERE EXISTS (SELECT 1 FROM owners WHERE owners.id = touched.owner_id) GROUP BY owner_id""",
    "memo_memory_tags_truncated": """
            SELECT owner_id, 0, 1 FROM memory_count_deltas GROUP BY owner_id HAVING sum(total) <> 0""",
}
_BACKFILL = "SELECT owner_id, count(*), count(*) FROM memories GROUP BY owner_id"
_NEW, _OLD, _BOTH = ("REFERENCING NEW TABLE AS new_rows", "REFERENCING OLD TABLE AS old_rows",
                     "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows")
# trigger name -> (event, table, transition tables, function)
_TRIGGERS = {
    "memory_count_deltas_after_insert": ("INSERT", "memories", _NEW, "memo_memories_inserted"),
    "memory_count_deltas_after_delete": ("DELETE", "memories", _OLD, "memo_memories_deleted"),
    "memory_count_deltas_after_update": ("UPDATE", "memories", _BOTH, "memo_memories_updated"),
    "memory_count_deltas_after_truncate": ("TRUNCATE", "memories", "", "memo_memories_truncated"),
    "memory_count_deltas_after_tag_insert": ("INSERT", "memory_tags", _NEW, "memo_memory_tags_inserted"),
    "memory_count_deltas_after_tag_delete": ("DELETE", "memory_tags", _OLD, "memo_memory_tags_deleted"),
    "memory_count_deltas_after_tag_update": ("UPDATE", "memory_tags", _BOTH, "memo_memory_tags_updated"),
    "memory_count_deltas_after_tag_truncate": ("TRUNCATE", "memory_tags", "", "memo_memory_tags_truncated"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "memory_count_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_memory_count_deltas_owner_id_owners",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_memory_count_deltas"),
    )
    # an owner's sums and its last row id, read from the index alone
    op.create_index("ix_memory_count_deltas_owner", "memory_count_deltas", ["owner_id", "id"],
                    postgresql_include=["total", "changes"])
    for name, body in _FUNCTIONS.items():
        op.execute(f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {_INSERT}{body};
            RETURN NULL;
        END $$""")
    for name, (event, table, transitions, function) in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} {transitions} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    op.execute(_INSERT + " " + _BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (_event, table, _transitions, _function) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for name in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("memory_count_deltas")
