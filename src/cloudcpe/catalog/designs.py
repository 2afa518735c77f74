"""The Network Service Designer's drafts: saved versions of a chain, published to the
catalog as NS descriptors. Validation is the catalog's own (`validate_chain`).

SOL001 export/import of a design plugs in here once the standards branch lands: a design's
`chain` is exactly what `NsDescriptorCreate.chain` takes (see `to_descriptor`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.catalog.schemas import ChainElement, NsDescriptorCreate
from cloudcpe.catalog.service import create_descriptor, validate_chain
from cloudcpe.errors import FieldError, Invalid, NotFound
from cloudcpe.inventory.schemas import Name
from cloudcpe.store.base import Base, IdMixin


class NsDesign(IdMixin, Base):
    """One saved version of a design. Saving again adds version + 1."""

    __tablename__ = "ns_design"

    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(63), index=True)
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500), default="")
    chain: Mapped[list[Any]]
    saved_by: Mapped[str] = mapped_column(String(63))
    published_nsd_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class DesignSave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    description: str = Field("", max_length=500)
    chain: list[ChainElement] = Field(min_length=1)


def validate_design(data: DesignSave) -> list[FieldError]:
    return validate_chain(data.chain, ["body", "chain"])


def list_designs(session: Session, who: Principal) -> list[NsDesign]:
    stmt = who.scoped(select(NsDesign), NsDesign.tenant_id)
    return list(session.scalars(stmt.order_by(NsDesign.name, NsDesign.version.desc())))


def get_design(session: Session, who: Principal, design_id: str) -> NsDesign:
    design = session.get(NsDesign, design_id)
    if design is None or not who.can_see(design.tenant_id):
        raise NotFound("design", design_id)
    return design


def save_design(session: Session, who: Principal, data: DesignSave) -> NsDesign:
    """A new version; invalid chains are refused with every field at fault."""
    who.require("manage_tenant", "saving a design")
    errors = validate_design(data)
    if errors:
        raise Invalid(errors)
    tenant_id = who.tenant_id
    latest = session.scalar(
        select(func.max(NsDesign.version)).where(
            NsDesign.name == data.name,
            NsDesign.tenant_id.is_(None) if tenant_id is None else NsDesign.tenant_id == tenant_id,
        )
    )
    design = NsDesign(
        tenant_id=tenant_id,
        name=data.name,
        version=(latest or 0) + 1,
        description=data.description,
        chain=[el.model_dump() for el in data.chain],
        saved_by=who.name,
    )
    session.add(design)
    session.flush()
    return design


def to_descriptor(design: NsDesign) -> NsDescriptorCreate:
    """The catalog form of a design (also the input of a future SOL001 export)."""
    return NsDescriptorCreate(
        name=design.name,
        version=str(design.version),
        description=design.description,
        chain=[ChainElement.model_validate(el) for el in design.chain],
    )


def publish_design(session: Session, who: Principal, design_id: str) -> NsDescriptor:
    design = get_design(session, who, design_id)
    nsd = create_descriptor(session, who, to_descriptor(design))
    design.published_nsd_id = nsd.id
    session.flush()
    return nsd
