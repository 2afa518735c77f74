"""Network service descriptors: an ordered chain of functions with default parameters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin


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
    # [{"name": "fw", "function": "firewall", "params": {...}}, ...] in chain order LAN -> WAN
    chain: Mapped[list[Any]]
