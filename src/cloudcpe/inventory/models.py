"""Tenants (customers), sites, and devices (NFVI hosts at sites)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin


class Tenant(IdMixin, Base):
    __tablename__ = "tenant"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class Site(IdMixin, Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))  # on_premise | cloud
    lan_prefix: Mapped[str] = mapped_column(String(43))
    description: Mapped[str] = mapped_column(String(500), default="")


class Device(IdMixin, Base):
    """An NFVI host at a site (a CPE device). `host_key` names its kernel objects."""

    __tablename__ = "device"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    site_id: Mapped[str | None] = mapped_column(
        ForeignKey("site.id", ondelete="RESTRICT"), unique=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(63))
    serial: Mapped[str] = mapped_column(String(63), unique=True)
    model: Mapped[str] = mapped_column(String(63), default="linux-cpe")
    host_key: Mapped[str] = mapped_column(String(8), unique=True)
    wan_address: Mapped[str] = mapped_column(String(43))  # CIDR, e.g. 203.0.113.2/24
    wan_gateway: Mapped[str] = mapped_column(String(39))
    lan_port: Mapped[str] = mapped_column(String(15), default="ccpe-lan")
    wan_port: Mapped[str] = mapped_column(String(15), default="ccpe-wan")
    max_functions: Mapped[int] = mapped_column(Integer, default=8)
    # Embedded (in-process) host: the network namespace that plays this host; None = this
    # machine's own namespace. Remote agents come with the host agent issue.
    netns: Mapped[str | None] = mapped_column(String(64), nullable=True)
