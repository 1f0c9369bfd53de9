"""A count of changes to the API keys, moved in the same transaction as any change a verdict depends on (PostgreSQL).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12 10:00:00

The key store keeps the keys it has opened while `api_key_changes.version` stands, reading that one row first on
every request (`key_version.py`). One statement-level trigger covers every writer, Memo's own and any other:
inserts, deletes (a deleted owner's keys go by cascade, which fires it too), truncates, and updates of the
columns an answer is made of. `last_used_at` is left out: every key use moves it, and a new version per flush
would make every server read its keys again for nothing. The row is locked only by key changes, which are rare.
SQLite needs none of it: there `PRAGMA data_version` tells the key store of every commit (`key_cache.py`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

_COLUMNS = "key_id, owner_id, sealed_secret, revoked_at, previous_sealed_secret, previous_valid_until"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "api_key_changes",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_api_key_changes_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_api_key_changes"),
    )
    op.execute("INSERT INTO api_key_changes (id, version) VALUES (1, 0)")
    op.execute("""CREATE FUNCTION memo_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE api_key_changes SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$""")
    op.execute(f"CREATE TRIGGER api_keys_changed AFTER INSERT OR DELETE OR UPDATE OF {_COLUMNS} ON api_keys "
               "FOR EACH STATEMENT EXECUTE FUNCTION memo_api_keys_changed()")
    op.execute("CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys "
               "FOR EACH STATEMENT EXECUTE FUNCTION memo_api_keys_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER api_keys_truncated ON api_keys")
    op.execute("DROP TRIGGER api_keys_changed ON api_keys")
    op.execute("DROP FUNCTION memo_api_keys_changed()")
    op.drop_table("api_key_changes")
