"""nslcm: SOL005 NS LCM operation occurrences can be cancelled (isCancelPending, cancelMode);
subscriptions and the notification outbox; OAuth2 clients and their tokens

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-21 10:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lcm_operation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_cancel_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("cancel_mode", sa.String(length=10), nullable=True))
    op.create_table(
        "subscription",
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("api", sa.String(length=10), nullable=False),
        sa.Column("callback_uri", sa.String(length=2000), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("authentication", sa.JSON(), nullable=True),
        sa.Column("base_url", sa.String(length=2000), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_subscription_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
    )
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscription_api"), ["api"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscription_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "notification",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
            name=op.f("fk_notification_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notification_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "oauth2_client",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_oauth2_client_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth2_client")),
    )
    with op.batch_alter_table("oauth2_client", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth2_client_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "oauth2_token",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth2_client.id"],
            name=op.f("fk_oauth2_token_client_id_oauth2_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth2_token")),
    )
    with op.batch_alter_table("oauth2_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth2_token_client_id"), ["client_id"], unique=False)


def downgrade() -> None:
    op.drop_table("oauth2_token")
    op.drop_table("oauth2_client")
    op.drop_table("notification")
    op.drop_table("subscription")
    with op.batch_alter_table("lcm_operation", schema=None) as batch_op:
        batch_op.drop_column("cancel_mode")
        batch_op.drop_column("is_cancel_pending")
