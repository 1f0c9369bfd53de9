"""WhatsApp messages found by the memory they made, for the export: one index probe per memory of a page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 11:00:00

Each page of `GET /api/export` reads the WhatsApp records of its 500 memories by (owner_id, memory_id); without this
index that read walks all of the owner's messages, page after page.
"""

from __future__ import annotations

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_index("ix_whatsapp_messages_owner_memory", "whatsapp_messages", ["owner_id", "memory_id"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_messages_owner_memory", table_name="whatsapp_messages")
