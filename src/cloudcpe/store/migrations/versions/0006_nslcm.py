"""nslcm: SOL005 NS LCM operation occurrences can be cancelled (isCancelPending, cancelMode)

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-21 10:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lcm_operation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_cancel_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("cancel_mode", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lcm_operation", schema=None) as batch_op:
        batch_op.drop_column("cancel_mode")
        batch_op.drop_column("is_cancel_pending")
