"""Tenants (customers), sites, POPs, and the NFVI hosts: CPE devices and compute nodes."""

from __future__ import annotations

from datetime import datetime

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
    # cloud sites: the POP whose compute nodes run the site's chains
    pop_id: Mapped[str | None] = mapped_column(
        ForeignKey("pop.id", ondelete="RESTRICT"), index=True, nullable=True
    )


class NfviHost(IdMixin, Base):
    """A host that runs functions and is reconciled to one desired state document: a CPE
    device at a site or a compute node in a POP. `host_key` names its kernel objects."""

    __tablename__ = "nfvi_host"
    __mapper_args__ = {"polymorphic_on": "role", "polymorphic_identity": "host"}

    role: Mapped[str] = mapped_column(String(16))  # cpe | compute
    name: Mapped[str] = mapped_column(String(63))
    serial: Mapped[str] = mapped_column(String(63), unique=True)
    model: Mapped[str] = mapped_column(String(63), default="linux")
    host_key: Mapped[str] = mapped_column(String(8), unique=True)
    max_functions: Mapped[int] = mapped_column(Integer, default=8)
    # embedded: the orchestrator realises the host itself (in `netns`, None = its own
    # namespace); agent: a `cloudcpe agent` on the host pulls its desired state
    management: Mapped[str] = mapped_column(String(16), default="embedded")
    netns: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # zero-touch activation and the agent's own credential (hashes only)
    activation_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    activation_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    credential_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Device(NfviHost):
    """A CPE device at a site (on-premise: runs the chain; cloud site: a thin CPE)."""

    __tablename__ = "device"
    __mapper_args__ = {"polymorphic_identity": "cpe"}

    id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    site_id: Mapped[str | None] = mapped_column(
        ForeignKey("site.id", ondelete="RESTRICT"), unique=True, nullable=True
    )
    wan_address: Mapped[str] = mapped_column(String(43))  # CIDR, e.g. 203.0.113.2/24
    wan_gateway: Mapped[str] = mapped_column(String(39))
    lan_port: Mapped[str] = mapped_column(String(15), default="ccpe-lan")
    wan_port: Mapped[str] = mapped_column(String(15), default="ccpe-wan")


class Pop(IdMixin, Base):
    """A point of presence of the provider: compute nodes that run cloud sites' chains, and
    the public addresses those chains get (on the compute nodes' uplink segment)."""

    __tablename__ = "pop"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    public_pool: Mapped[str] = mapped_column(String(43))  # CIDR, e.g. 198.51.100.128/26


class ComputeNode(NfviHost):
    """A compute node of a POP. Its uplink port joins the POP's uplink segment, where the
    node's tunnel endpoint (`uplink_address`) and its chains' public addresses live."""

    __tablename__ = "compute_node"
    __mapper_args__ = {"polymorphic_identity": "compute"}

    id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="CASCADE"), primary_key=True
    )
    pop_id: Mapped[str] = mapped_column(ForeignKey("pop.id", ondelete="RESTRICT"), index=True)
    uplink_port: Mapped[str] = mapped_column(String(15), default="ccpe-up")
    uplink_address: Mapped[str] = mapped_column(String(43))  # CIDR: the tunnel endpoint
    uplink_gateway: Mapped[str] = mapped_column(String(39))


class PopAddress(IdMixin, Base):
    """One address of a POP's public pool, held by one chain (IPAM). The unique constraint
    is what guarantees that no address is ever handed to two chains."""

    __tablename__ = "pop_address"
    __table_args__ = (UniqueConstraint("pop_id", "address"),)

    pop_id: Mapped[str] = mapped_column(ForeignKey("pop.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str] = mapped_column(String(39))
    ns_instance_id: Mapped[str] = mapped_column(
        ForeignKey("ns_instance.id", ondelete="CASCADE"), unique=True
    )
