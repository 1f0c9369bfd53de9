"""Owners, API keys, memories with their tag index, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 10:00:00

Hand-written to match `memo.adapters.storage.orm` (tests/integration/test_migrations.py compares the two) and
checked on SQLite and PostgreSQL. Types are the ORM's own: `GUID` is `uuid` on PostgreSQL and 16 bytes on
SQLite; `DateTimeUTC` is `timestamptz` on PostgreSQL and fixed-width UTC text on SQLite; JSON is `jsonb` on
PostgreSQL. Constraint names follow advanced-alchemy's naming convention, as the ORM's metadata does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> DateTimeUTC:
    return DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "owners",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("whatsapp_phone_number_id", sa.String(length=20), nullable=True),
        sa.Column("whatsapp_number", sa.String(length=20), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_owners"),
        sa.UniqueConstraint("name", name="uq_owners_name"),
        sa.UniqueConstraint("whatsapp_phone_number_id", name="uq_owners_whatsapp_phone_number_id"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_api_keys_owner_id_owners", ondelete="CASCADE"),
    )
    op.create_index("ix_api_keys_owner_id", "api_keys", ["owner_id"])
    op.create_table(
        "memories",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memories"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_memories_owner_id_owners", ondelete="CASCADE"),
    )
    op.create_index("ix_memories_owner_created", "memories", ["owner_id", "created_at", "id"])
    op.create_index("ix_memories_owner_updated", "memories", ["owner_id", "updated_at", "id"])
    op.create_table(
        "memory_tags",
        sa.Column("memory_id", GUID(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.PrimaryKeyConstraint("memory_id", "tag", name="pk_memory_tags"),
        sa.ForeignKeyConstraint(["memory_id"], ["memories.id"], name="fk_memory_tags_memory_id_memories",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_memory_tags_owner_tag", "memory_tags", ["owner_id", "tag", "memory_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=128), nullable=False),
        sa.Column("memory_id", GUID(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_idempotency_keys_owner_id_owners",
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_memory_tags_owner_tag", table_name="memory_tags")
    op.drop_table("memory_tags")
    op.drop_index("ix_memories_owner_updated", table_name="memories")
    op.drop_index("ix_memories_owner_created", table_name="memories")
    op.drop_table("memories")
    op.drop_index("ix_api_keys_owner_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("owners")
