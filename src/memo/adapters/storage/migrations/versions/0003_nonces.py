"""Nonces in the database, so every process and every restart sees them (no REDIS_URL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

One row per recorded nonce, written by `memo.adapters.storage.nonces.SqlNonceStore`: `key` is the scope and nonce
(length-prefixed, or their SHA-256 when they are not plain), `mode` says whether later shared uses may pass, and
`expires_at` is a Unix time in seconds: a plain number compares the same way on SQLite and PostgreSQL and costs no
date parsing on the claim that runs on every signed request. The index serves the bounded purge of expired rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "nonces",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=1), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_nonces"),
    )
    op.create_index("ix_nonces_expires_at", "nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_nonces_expires_at", table_name="nonces")
    op.drop_table("nonces")
