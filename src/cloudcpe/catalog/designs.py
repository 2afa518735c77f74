"""The Network Service Designer's drafts: saved versions of a chain, published to the
catalog as NS descriptors. Validation is the catalog's own (`validate_chain`).

SOL001: `export_nsd` is a design as an SOL001 NSD (the catalog's chain -> NSD translation,
as `nsd_content` serves a chain descriptor); `import_nsd` reads one back (the NSD -> chain
translation of NSD onboarding) and saves it as a new version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog import packages, sol001, yamlsafe
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.catalog.schemas import ChainElement, NsDescriptorCreate
from cloudcpe.catalog.service import create_descriptor, validate_chain
from cloudcpe.catalog.sol004 import PackageError
from cloudcpe.errors import FieldError, Invalid, NotFound
from cloudcpe.inventory.schemas import Name
from cloudcpe.lcm.render import max_chain_length
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
    """The catalog form of a design."""
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


IMPORT_LIMIT = 1 << 20  # bytes of one NSD YAML file


def export_nsd(design: NsDesign) -> str:
    """The design as an SOL001 NSD YAML (one Function VNF per element, one forwarding path).
    `customer_params` are a catalog notion with no SOL001 counterpart: they are not exported."""
    return sol001.chain_to_nsd(
        design.chain,
        nsd_id=design.id,
        name=design.name,
        version=str(design.version),
        description=design.description,
        designer=design.saved_by,
    )


def import_nsd(session: Session, who: Principal, data: bytes, where: list[str]) -> NsDesign:
    """An SOL001 NSD YAML file as a new version of the design it names. VNFs that are not
    built-in functions need their VNFD onboarded and enabled for this tenant (or published),
    as for NSD onboarding. Refusals are `Invalid` at `where` (the form field)."""
    who.require("manage_tenant", "importing a design")

    def refuse(msg: str) -> Invalid:
        return Invalid([FieldError(where, msg)])

    if not data:
        raise refuse("choose an SOL001 NSD YAML file")
    if len(data) > IMPORT_LIMIT:
        raise refuse(f"the file is larger than {IMPORT_LIMIT} bytes")
    entry = "nsd.yaml"
    try:
        doc = yamlsafe.load(data, entry)
        with tempfile.TemporaryDirectory(prefix="ccpe-nsd-") as tmp:
            (Path(tmp) / entry).write_bytes(data)
            parsed = sol001.parse_nsd(Path(tmp), entry)

            def vnfd(vnfd_id: str) -> sol001.Vnfd | None:
                found = packages.lookup_vnfd(session, who.tenant_id, vnfd_id)
                return found[1] if found else None

            chain = sol001.nsd_chain(parsed, vnfd, max_chain_length())
    except (yamlsafe.YamlError, PackageError) as exc:
        raise refuse(str(exc)) from None
    described = doc.get("description") if isinstance(doc, dict) else None
    save = DesignSave(
        name=sol001.element_name(parsed.name),
        description=str(described or f"SOL001 NSD {parsed.name} {parsed.version}")[:500],
        chain=[
            ChainElement(name=el["name"], function=el["function"], params=el["params"])
            for el in chain
        ],
    )
    try:
        return save_design(session, who, save)
    except Invalid as exc:
        raise Invalid([FieldError(where, f"{e.path()}: {e.msg}") for e in exc.errors]) from None
