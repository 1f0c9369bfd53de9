"""The previous secret of a rotated API key and the moment it stops being accepted (`memo keys rotate`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09 10:00:00

Two nullable columns on `api_keys`: the secret a rotation replaced, sealed like the current one and bound to the
same key id, and its end of grace. Both are empty for a key never rotated, so existing keys are unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("previous_sealed_secret", sa.LargeBinary(), nullable=True))
        table.add_column(sa.Column("previous_valid_until", DateTimeUTC(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("previous_valid_until")
        table.drop_column("previous_sealed_secret")
