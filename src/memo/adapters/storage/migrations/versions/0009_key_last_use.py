"""When each API key was last used, so `memo keys list` tells a device's key in use from a forgotten one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00

A nullable time on `api_keys`, written at most once a minute per key and never inside a signed request: the
server buffers the uses it sees and writes them in the background (`memo.application.key_use`).
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("last_used_at", DateTimeUTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("last_used_at")
