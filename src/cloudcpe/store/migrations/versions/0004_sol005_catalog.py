"""sol005 catalog: VNF packages, NSD state on ns_descriptor, NSD -> VNF package links

The lead re-chains down_revision at merge time (issue 3 branches start from 0001).

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-21 09:28:52.938384
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vnf_package",
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("onboarding_state", sa.String(length=16), nullable=False),
        sa.Column("operational_state", sa.String(length=16), nullable=False),
        sa.Column("onboarding_failure", sa.JSON(), nullable=True),
        sa.Column("user_defined_data", sa.JSON(), nullable=False),
        sa.Column("vnfd_id", sa.String(length=255), nullable=True),
        sa.Column("vnf_provider", sa.String(length=255), nullable=True),
        sa.Column("vnf_product_name", sa.String(length=255), nullable=True),
        sa.Column("vnf_software_version", sa.String(length=255), nullable=True),
        sa.Column("vnfd_version", sa.String(length=255), nullable=True),
        sa.Column("checksum", sa.JSON(), nullable=True),
        sa.Column("software_images", sa.JSON(), nullable=False),
        sa.Column("additional_artifacts", sa.JSON(), nullable=False),
        sa.Column("vnfd", sa.JSON(), nullable=True),
        sa.Column("package", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_vnf_package_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vnf_package")),
    )
    with op.batch_alter_table("vnf_package", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vnf_package_onboarding_state"), ["onboarding_state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_vnf_package_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vnf_package_vnfd_id"), ["vnfd_id"], unique=False)

    op.create_table(
        "nsd_vnf_package",
        sa.Column("nsd_id", sa.String(length=36), nullable=False),
        sa.Column("vnf_package_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["nsd_id"],
            ["ns_descriptor.id"],
            name=op.f("fk_nsd_vnf_package_nsd_id_ns_descriptor"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vnf_package_id"],
            ["vnf_package.id"],
            name=op.f("fk_nsd_vnf_package_vnf_package_id_vnf_package"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("nsd_id", "vnf_package_id", name=op.f("pk_nsd_vnf_package")),
    )
    with op.batch_alter_table("nsd_vnf_package", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nsd_vnf_package_vnf_package_id"), ["vnf_package_id"], unique=False
        )

    # existing descriptors (simple chains) are onboarded and enabled
    with op.batch_alter_table("ns_descriptor", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="chain")
        )
        batch_op.add_column(sa.Column("nsd_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("nsd_name", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("designer", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("invariant_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column(
                "onboarding_state", sa.String(length=16), nullable=False, server_default="ONBOARDED"
            )
        )
        batch_op.add_column(
            sa.Column(
                "operational_state", sa.String(length=16), nullable=False, server_default="ENABLED"
            )
        )
        batch_op.add_column(sa.Column("onboarding_failure", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "user_defined_data", sa.JSON(), nullable=False, server_default=sa.text("'{}'")
            )
        )
        batch_op.add_column(sa.Column("content_type", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("vnfd_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("sol001", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            )
        )
        batch_op.create_index(batch_op.f("ix_ns_descriptor_nsd_id"), ["nsd_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ns_descriptor_onboarding_state"), ["onboarding_state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ns_descriptor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ns_descriptor_onboarding_state"))
        batch_op.drop_index(batch_op.f("ix_ns_descriptor_nsd_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("sol001")
        batch_op.drop_column("vnfd_ids")
        batch_op.drop_column("content_type")
        batch_op.drop_column("user_defined_data")
        batch_op.drop_column("onboarding_failure")
        batch_op.drop_column("operational_state")
        batch_op.drop_column("onboarding_state")
        batch_op.drop_column("invariant_id")
        batch_op.drop_column("designer")
        batch_op.drop_column("nsd_name")
        batch_op.drop_column("nsd_id")
        batch_op.drop_column("source")

    with op.batch_alter_table("nsd_vnf_package", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nsd_vnf_package_vnf_package_id"))

    op.drop_table("nsd_vnf_package")
    with op.batch_alter_table("vnf_package", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vnf_package_vnfd_id"))
        batch_op.drop_index(batch_op.f("ix_vnf_package_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_vnf_package_onboarding_state"))

    op.drop_table("vnf_package")
