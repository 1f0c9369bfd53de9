"""WhatsApp messages received and sent, and the delivery status of each.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 10:00:00

`whatsapp_messages` holds one row per (owner, WhatsApp message id), unique: what makes ingestion exactly once
under Meta's redeliveries. `whatsapp_statuses` holds the furthest status of each message by (owner, message id),
also for a message Memo has not recorded yet (Meta's statuses may come first); `rank` lets one conditional upsert
keep a status from moving backwards. `ix_jobs_owner_state` serves the per-owner job counts of the sync status.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> DateTimeUTC:
    return DateTimeUTC(timezone=True)


def upgrade() -> None:
    op.create_table(
        "whatsapp_messages",
        sa.Column("id", GUID(), nullable=False),
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("whatsapp_message_id", sa.Text(), nullable=False),
        sa.Column("phone_number_id", sa.Text(), nullable=True),
        sa.Column("peer", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("memory_id", GUID(), nullable=False),
        sa.Column("sent_at", _time(), nullable=False),
        sa.Column("recorded_at", _time(), nullable=False),
        sa.Column("media_id", sa.Text(), nullable=True),
        sa.Column("mime_type", sa.Text(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("media_state", sa.String(length=16), nullable=True),
        sa.Column("media_ref", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_whatsapp_messages_owner_id_owners",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_whatsapp_messages"),
        sa.UniqueConstraint("owner_id", "whatsapp_message_id", name="uq_whatsapp_messages_owner_message"),
    )
    op.create_index("ix_whatsapp_messages_owner_direction", "whatsapp_messages",
                    ["owner_id", "direction", "recorded_at"])
    op.create_table(
        "whatsapp_statuses",
        sa.Column("owner_id", GUID(), nullable=False),
        sa.Column("whatsapp_message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status_at", _time(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"], name="fk_whatsapp_statuses_owner_id_owners",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("owner_id", "whatsapp_message_id", name="pk_whatsapp_statuses"),
    )
    op.create_index("ix_jobs_owner_state", "jobs", ["owner_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner_state", table_name="jobs")
    op.drop_table("whatsapp_statuses")
    op.drop_index("ix_whatsapp_messages_owner_direction", table_name="whatsapp_messages")
    op.drop_table("whatsapp_messages")
