"""The catalog: network service descriptors and VNF packages.

One model underneath both APIs: an `NsDescriptor` is an ordered chain of functions
(`chain`, LAN to WAN) whichever way it came: the product API's simple chain format
(`source = "chain"`) or an onboarded SOL001 NSD (`source = "sol001"`, the chain derived from
its forwarding path). The SOL005 NsdInfo state (onboarding, operational) lives on the same
row; an NSD made from a simple chain is onboarded and enabled at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin, utcnow

# SOL005 states
CREATED, UPLOADING, PROCESSING, ONBOARDED, ERROR = (
    "CREATED",
    "UPLOADING",
    "PROCESSING",
    "ONBOARDED",
    "ERROR",
)
ENABLED, DISABLED = "ENABLED", "DISABLED"
IN_USE, NOT_IN_USE = "IN_USE", "NOT_IN_USE"


class NsDescriptor(IdMixin, Base):
    __tablename__ = "ns_descriptor"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    # None: published by the operator for every tenant; else private to that tenant
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="RESTRICT"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(31), default="1.0")
    description: Mapped[str] = mapped_column(String(500), default="")
    # [{"name": "fw", "function": "firewall", "params": {...}}, ...] in chain order LAN -> WAN;
    # elements from an SOL001 NSD also say where they come from ("source": vnf, vnfd, vdu)
    chain: Mapped[list[Any]]

    # SOL005 NsdInfo
    source: Mapped[str] = mapped_column(String(16), default="chain")  # chain | sol001
    nsd_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    nsd_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    designer: Mapped[str] = mapped_column(String(255), default="")
    invariant_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    onboarding_state: Mapped[str] = mapped_column(String(16), default=ONBOARDED, index=True)
    operational_state: Mapped[str] = mapped_column(String(16), default=ENABLED)
    onboarding_failure: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    user_defined_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vnfd_ids: Mapped[list[Any]] = mapped_column(default=list)
    # the parsed NSD (VNFs, virtual links, forwarding paths, notes) and the package checks
    sol001: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VnfPackage(IdMixin, Base):
    """An SOL004 VNF package (SOL005 VnfPkgInfo); its files live in the package store."""

    __tablename__ = "vnf_package"

    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="RESTRICT"), index=True, nullable=True
    )
    onboarding_state: Mapped[str] = mapped_column(String(16), default=CREATED, index=True)
    operational_state: Mapped[str] = mapped_column(String(16), default=DISABLED)
    onboarding_failure: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    user_defined_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    vnfd_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    vnf_provider: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vnf_product_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vnf_software_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vnfd_version: Mapped[str | None] = mapped_column(String(255), nullable=True)
    checksum: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    software_images: Mapped[list[Any]] = mapped_column(default=list)
    additional_artifacts: Mapped[list[Any]] = mapped_column(default=list)
    # the parsed VNFD (sol001.Vnfd.to_dict()) and what the package checks found
    vnfd: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    package: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NsdVnfPackage(Base):
    """Which VNF packages an onboarded NSD uses: they are IN_USE while it exists."""

    __tablename__ = "nsd_vnf_package"

    nsd_id: Mapped[str] = mapped_column(
        ForeignKey("ns_descriptor.id", ondelete="CASCADE"), primary_key=True
    )
    vnf_package_id: Mapped[str] = mapped_column(
        ForeignKey("vnf_package.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
