"""NS instances, VNF instances, LCM operations, and the per-host desired state documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin, utcnow


class NsInstance(IdMixin, Base):
    __tablename__ = "ns_instance"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id", ondelete="RESTRICT"), index=True)
    nsd_id: Mapped[str] = mapped_column(ForeignKey("ns_descriptor.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(String(500), default="")
    key: Mapped[str] = mapped_column(String(6))  # names the host-side links of the chain
    ns_state: Mapped[str] = mapped_column(String(20), default="NOT_INSTANTIATED")
    # per-function parameter overrides: {"<function name>": {...params}}
    vnf_params: Mapped[dict[str, Any]] = mapped_column(default=dict)


class VnfInstance(IdMixin, Base):
    """One function of an instantiated chain, placed on a host."""

    __tablename__ = "vnf_instance"
    __table_args__ = (UniqueConstraint("ns_instance_id", "position"),)

    ns_instance_id: Mapped[str] = mapped_column(
        ForeignKey("ns_instance.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(63))
    function: Mapped[str] = mapped_column(String(31))
    key: Mapped[str] = mapped_column(String(8))  # names the function's namespace on its host
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LcmOperation(IdMixin, Base):
    """The durable record of one lifecycle workflow (SOL005 NS LCM operation occurrence)."""

    __tablename__ = "lcm_operation"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    ns_instance_id: Mapped[str] = mapped_column(
        ForeignKey("ns_instance.id", ondelete="CASCADE"), index=True
    )
    operation: Mapped[str] = mapped_column(String(20))  # INSTANTIATE UPDATE HEAL TERMINATE
    operation_state: Mapped[str] = mapped_column(String(20), index=True)
    operation_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    steps_done: Mapped[list[Any]] = mapped_column(default=list)
    current_step: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    rollback_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    state_entered_time: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # SOL005 cancel: the worker stops at the next step boundary (the operation: FAILED_TEMP)
    is_cancel_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cancel_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)


class SiteTunnel(IdMixin, Base):
    """The encrypted tunnel joining a cloud site's thin CPE to its chain on a compute node.

    `slot` numbers the node's tunnels (it names the interface and picks the UDP port of the
    node's end). The orchestrator generates both key pairs and hands each private key to
    its host only, inside that host's desired state.
    """

    __tablename__ = "site_tunnel"
    __table_args__ = (UniqueConstraint("compute_node_id", "slot"),)

    ns_instance_id: Mapped[str] = mapped_column(
        ForeignKey("ns_instance.id", ondelete="CASCADE"), unique=True
    )
    device_id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="RESTRICT"), index=True
    )
    compute_node_id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="RESTRICT"), index=True
    )
    slot: Mapped[int] = mapped_column(Integer)
    cpe_private_key: Mapped[str] = mapped_column(String(44))
    cpe_public_key: Mapped[str] = mapped_column(String(44))
    pop_private_key: Mapped[str] = mapped_column(String(44))
    pop_public_key: Mapped[str] = mapped_column(String(44))


class HostDocument(Base):
    """The versioned desired state of one host, and what the host last reported."""

    __tablename__ = "host_document"

    host_id: Mapped[str] = mapped_column(
        ForeignKey("nfvi_host.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=0)
    desired: Mapped[dict[str, Any]] = mapped_column(default=dict)
    observed: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # when the desired state last changed (indexed: API processes look for changed documents)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # the version the observed state answers, when the host made that observation (its own
    # clock: orders two reports of one version) and when the report arrived (ours)
    observed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    observed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # the host's latest telemetry sample and heartbeat (agent-managed hosts)
    telemetry: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
