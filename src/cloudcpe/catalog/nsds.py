"""NS descriptors in SOL005 terms (NSD management): create, upload, onboard, modify, delete.

An NsdInfo is an `NsDescriptor` row. Created through SOL005 it starts CREATED (DISABLED,
with a placeholder name and an empty chain); its content (an SOL004 zip, or one YAML file)
is parsed as an SOL001 NSD, every VNFD it names must be onboarded and enabled in a VNF
package the NSD's owner may use, and its forwarding path becomes the chain. Onboarded, it is
ENABLED and usable by the product API and the LCM like any other descriptor. A descriptor
made from a simple chain (`POST /api/v1/ns_descriptors`) is an NsdInfo too: its
`nsd_content` is the SOL001 NSD exported from the chain.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog import onboarding, packages, sol001, yamlsafe
from cloudcpe.catalog.models import (
    CREATED,
    DISABLED,
    ENABLED,
    IN_USE,
    ONBOARDED,
    PROCESSING,
    UPLOADING,
    NsDescriptor,
    NsdVnfPackage,
)
from cloudcpe.catalog.sol004 import META_PATH, PackageError, open_package
from cloudcpe.catalog.sol005 import (
    CreateNsdInfoRequest,
    NsdInfoModifications,
    merge_patch,
    nsd_usage,
)
from cloudcpe.catalog.storage import CatalogConfig
from cloudcpe.errors import Conflict, Forbidden, Invalid, NotFound
from cloudcpe.lcm.render import max_chain_length
from cloudcpe.notify import catalog as notify
from cloudcpe.store.base import new_id
from cloudcpe.store.db import SessionFactory, unit_of_work

UPLOAD = "upload"
CONTENT = "content"
YAML_ENTRY = "nsd.yaml"


def visible_stmt(who: Principal) -> Select[NsDescriptor, str]:
    stmt = select(NsDescriptor, nsd_usage().label("usage"))
    if not who.is_operator:
        stmt = stmt.where(
            or_(NsDescriptor.tenant_id.is_(None), NsDescriptor.tenant_id == who.tenant_id)
        )
    return stmt


def get_nsd(session: Session, who: Principal, nsd_id: str) -> NsDescriptor:
    nsd = session.get(NsDescriptor, nsd_id)
    if nsd is None or not (who.is_operator or nsd.tenant_id in (None, who.tenant_id)):
        raise NotFound("NS descriptor", nsd_id)
    return nsd


def usage_of(session: Session, nsd: NsDescriptor) -> str:
    return str(session.scalar(select(nsd_usage()).where(NsDescriptor.id == nsd.id)))


def vnf_pkg_ids(session: Session, nsd_ids: list[str]) -> dict[str, list[str]]:
    """The VNF packages each descriptor uses (one query for a page of descriptors)."""
    out: dict[str, list[str]] = {i: [] for i in nsd_ids}
    rows = session.execute(
        select(NsdVnfPackage.nsd_id, NsdVnfPackage.vnf_package_id).where(
            NsdVnfPackage.nsd_id.in_(nsd_ids)
        )
    )
    for nsd_id, pkg_id in rows:
        out[nsd_id].append(pkg_id)
    return {k: sorted(v) for k, v in out.items()}


def _owned(who: Principal, nsd: NsDescriptor, action: str) -> None:
    if nsd.tenant_id is None and not who.is_operator:
        raise Forbidden(f"{action} a published NS descriptor needs an operator token")
    who.require_catalog_change(f"{action} an NS descriptor")


def create_nsd_info(session: Session, who: Principal, data: CreateNsdInfoRequest) -> NsDescriptor:
    who.require_catalog_change("creating an NS descriptor")
    ident = new_id()
    nsd = NsDescriptor(
        id=ident,
        tenant_id=who.tenant_id,
        name=f"nsd-{ident[:8]}",  # until the content names it
        version="0",
        chain=[],
        source="sol001",
        onboarding_state=CREATED,
        operational_state=DISABLED,
        user_defined_data=data.user_defined_data or {},
    )
    session.add(nsd)
    session.flush()
    return nsd


# ------------------------------------------------------------------ onboarding


def start_upload(
    factory: SessionFactory, config: CatalogConfig, who: Principal, nsd_id: str
) -> Path:
    with unit_of_work(factory) as s:
        nsd = get_nsd(s, who, nsd_id)
        _owned(who, nsd, "uploading to")
        if nsd.source != "sol001":
            raise Conflict("this descriptor is a simple chain: its NSD is exported, not uploaded")
    onboarding.take(factory, NsDescriptor, nsd_id, "NS descriptor")
    return config.store.fresh(config.store.nsd(nsd_id)) / UPLOAD


def fail_upload(
    factory: SessionFactory, config: CatalogConfig, nsd_id: str, exc: BaseException
) -> None:
    directory = config.store.nsd(nsd_id)
    onboarding.fail(factory, NsDescriptor, nsd_id, exc, lambda: config.store.remove(directory))


def process_upload(
    factory: SessionFactory, config: CatalogConfig, nsd_id: str, content_type: str
) -> None:
    """UPLOADING -> PROCESSING -> ONBOARDED (and ENABLED), or ERROR with the reason.
    `content_type`: application/zip (an SOL004 CSAR) or text/plain (one YAML file)."""
    directory = config.store.nsd(nsd_id)
    try:
        onboarding.processing(factory, NsDescriptor, nsd_id)
        root, entry, notes = _unpack(directory, content_type, config)
        parsed = sol001.parse_nsd(root, entry)
        with unit_of_work(factory) as s:
            nsd = s.get_one(NsDescriptor, nsd_id)
            used: dict[str, str] = {}

            def vnfd(vnfd_id: str) -> sol001.Vnfd | None:
                found = packages.lookup_vnfd(s, nsd.tenant_id, vnfd_id)
                if found is None:
                    return None
                used[vnfd_id] = found[0].id
                return found[1]

            chain = sol001.nsd_chain(parsed, vnfd, max_chain_length())
            name, version = sol001.element_name(parsed.name), parsed.version[:31]
            _unique(s, nsd, name, version, parsed.nsd_id)
            nsd.name, nsd.version = name, version
            nsd.description = f"SOL001 NSD {parsed.name} {parsed.version}"[:500]
            nsd.chain = chain
            nsd.nsd_id = parsed.nsd_id
            nsd.nsd_name = parsed.name
            nsd.designer = parsed.designer
            nsd.invariant_id = parsed.invariant_id
            nsd.content_type = content_type
            nsd.vnfd_ids = parsed.vnfd_ids
            nsd.sol001 = {**parsed.to_dict(), "entry": entry, "notes": notes + parsed.notes}
            s.execute(delete(NsdVnfPackage).where(NsdVnfPackage.nsd_id == nsd.id))
            s.add_all(NsdVnfPackage(nsd_id=nsd.id, vnf_package_id=p) for p in set(used.values()))
            nsd.onboarding_state = ONBOARDED
            nsd.operational_state = ENABLED
            notify.nsd(s, nsd, "NsdOnboardingNotification")
    except BaseException as exc:
        fail_upload(factory, config, nsd_id, exc)
        raise


def _unpack(
    directory: Path, content_type: str, config: CatalogConfig
) -> tuple[Path, str, list[str]]:
    upload = directory / UPLOAD
    if content_type == "application/zip":
        upload = upload.rename(directory / "nsd.zip")
        csar = open_package(upload, directory / CONTENT, config.limits)
        return csar.root, csar.entry, csar.notes
    upload = upload.rename(directory / YAML_ENTRY)
    try:
        yamlsafe.load(upload.read_bytes(), YAML_ENTRY)
    except yamlsafe.YamlError as exc:
        raise PackageError(str(exc)) from None
    root = directory / CONTENT
    root.mkdir()
    (root / YAML_ENTRY).write_bytes(upload.read_bytes())
    return root, YAML_ENTRY, []


def _unique(session: Session, nsd: NsDescriptor, name: str, version: str, nsd_id: str) -> None:
    scope = (
        NsDescriptor.tenant_id.is_(None)
        if nsd.tenant_id is None
        else NsDescriptor.tenant_id == nsd.tenant_id
    )
    clash = session.scalar(
        select(NsDescriptor.id).where(
            NsDescriptor.id != nsd.id,
            scope,
            or_(
                (NsDescriptor.name == name) & (NsDescriptor.version == version),
                (NsDescriptor.nsd_id == nsd_id) & (NsDescriptor.onboarding_state == ONBOARDED),
            ),
        )
    )
    if clash:
        raise Conflict(
            f"an NS descriptor named {name!r} version {version!r} or with nsdId {nsd_id!r} "
            f"exists already ({clash})"
        )


# ------------------------------------------------------------------ reading and changing


def modify(
    session: Session, who: Principal, nsd_id: str, mods: NsdInfoModifications
) -> dict[str, Any]:
    nsd = get_nsd(session, who, nsd_id)
    _owned(who, nsd, "modifying")
    if mods.nsd_operational_state is None and mods.user_defined_data is None:
        raise Invalid.at(["body"], "give nsdOperationalState and/or userDefinedData")
    if mods.nsd_operational_state is not None:
        onboarding.check_state_change(
            "descriptor",
            nsd.onboarding_state,
            nsd.operational_state,
            mods.nsd_operational_state,
        )
        nsd.operational_state = mods.nsd_operational_state
        notify.nsd(session, nsd, "NsdChangeNotification")
    if mods.user_defined_data is not None:
        nsd.user_defined_data = merge_patch(nsd.user_defined_data, mods.user_defined_data)
    return mods.model_dump(by_alias=True, exclude_none=True)


def delete_nsd(session: Session, config: CatalogConfig, who: Principal, nsd_id: str) -> None:
    nsd = get_nsd(session, who, nsd_id)
    _owned(who, nsd, "deleting")
    if nsd.operational_state == ENABLED:
        raise Conflict("the descriptor is ENABLED: disable it first (PATCH nsdOperationalState)")
    if usage_of(session, nsd) == IN_USE:
        raise Conflict("the descriptor is IN_USE: NS instances of it exist")
    if nsd.onboarding_state in (UPLOADING, PROCESSING):
        raise Conflict(f"the descriptor is {nsd.onboarding_state}: wait until that ends")
    notify.nsd(session, nsd, "NsdDeletionNotification")
    session.delete(nsd)
    session.flush()
    config.store.remove(config.store.nsd(nsd.id))


@dataclass
class NsdContent:
    """What GET .../nsd_content serves: one YAML file, or a zip."""

    yaml: bytes | None = None  # the NSD as one file, when it is one
    zip_path: Path | None = None  # the uploaded CSAR
    zip_bytes: bytes | None = None  # a CSAR made here (chains, single YAML uploads)


def nsd_content(session: Session, config: CatalogConfig, who: Principal, nsd_id: str) -> NsdContent:
    nsd = get_nsd(session, who, nsd_id)
    if nsd.onboarding_state != ONBOARDED:
        raise Conflict(f"the descriptor is {nsd.onboarding_state}, not ONBOARDED")
    directory = config.store.nsd(nsd.id)
    if nsd.source == "chain":
        text = sol001.chain_to_nsd(
            nsd.chain,
            nsd_id=nsd.nsd_id or nsd.id,
            name=nsd.nsd_name or nsd.name,
            version=nsd.version,
            description=nsd.description,
        ).encode()
        return NsdContent(yaml=text, zip_bytes=_csar({YAML_ENTRY: text}))
    if nsd.content_type == "application/zip":
        return NsdContent(zip_path=directory / "nsd.zip")
    text = (directory / YAML_ENTRY).read_bytes()
    return NsdContent(yaml=text, zip_bytes=_csar({YAML_ENTRY: text}))


def _csar(files: dict[str, bytes]) -> bytes:
    meta = (
        "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: cloudcpe\n"
        f"Entry-Definitions: {YAML_ENTRY}\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(META_PATH, meta)
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
