"""VNF packages (SOL005 VNF package management): create, upload, onboard, modify, delete.

Tenancy: a package created with an operator token is published (every tenant sees it and
may use it in its NSDs); one created with a tenant token is that tenant's. Changing a
published package needs an operator token (403 for a tenant); another tenant's package
answers 404. Usage: a package is IN_USE while an onboarded NSD uses it; a package that is
ENABLED or IN_USE cannot be deleted (409).
"""

from __future__ import annotations

import time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog import onboarding, sol001, tosca
from cloudcpe.catalog.models import (
    ENABLED,
    IN_USE,
    ONBOARDED,
    PROCESSING,
    UPLOADING,
    NsDescriptor,
    NsdVnfPackage,
    VnfPackage,
)
from cloudcpe.catalog.sol004 import META_PATH, Csar, PackageError, PackageTooLarge, open_package
from cloudcpe.catalog.sol005 import (
    CreateVnfPkgInfoRequest,
    UploadVnfPackageFromUriRequest,
    VnfPkgInfoModifications,
    merge_patch,
    vnf_package_usage,
)
from cloudcpe.catalog.storage import CatalogConfig
from cloudcpe.errors import Conflict, Forbidden, Invalid, NotFound
from cloudcpe.notify import catalog as notify
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work

PACKAGE_FILE = "package.zip"
CONTENT = "content"


def visible_stmt(who: Principal) -> Select[VnfPackage, str]:
    """Every package the principal may see, each with its usage state."""
    stmt = select(VnfPackage, vnf_package_usage().label("usage"))
    if not who.is_operator:
        stmt = stmt.where(
            or_(VnfPackage.tenant_id.is_(None), VnfPackage.tenant_id == who.tenant_id)
        )
    return stmt


def list_packages(session: Session, who: Principal) -> list[VnfPackage]:
    stmt = visible_stmt(who).order_by(VnfPackage.created_at, VnfPackage.id)
    return [pkg for pkg, _ in session.execute(stmt)]


def get_package(session: Session, who: Principal, pkg_id: str) -> VnfPackage:
    pkg = session.get(VnfPackage, pkg_id)
    if pkg is None or not (who.is_operator or pkg.tenant_id in (None, who.tenant_id)):
        raise NotFound("VNF package", pkg_id)
    return pkg


def usage_of(session: Session, pkg: VnfPackage) -> str:
    return str(session.scalar(select(vnf_package_usage()).where(VnfPackage.id == pkg.id)))


def _owned(who: Principal, pkg: VnfPackage, action: str) -> None:
    if pkg.tenant_id is None and not who.is_operator:
        raise Forbidden(f"{action} a published VNF package needs an operator token")
    who.require_catalog_change(f"{action} a VNF package")


def create_package(session: Session, who: Principal, data: CreateVnfPkgInfoRequest) -> VnfPackage:
    who.require_catalog_change("creating a VNF package")
    pkg = VnfPackage(tenant_id=who.tenant_id, user_defined_data=data.user_defined_data or {})
    session.add(pkg)
    session.flush()
    return pkg


# ------------------------------------------------------------------ onboarding


def start_upload(
    factory: SessionFactory, config: CatalogConfig, who: Principal, pkg_id: str
) -> Path:
    """CREATED (or ERROR) -> UPLOADING; returns where the upload is to be written."""
    with unit_of_work(factory) as s:
        _owned(who, get_package(s, who, pkg_id), "uploading to")
    onboarding.take(factory, VnfPackage, pkg_id, "VNF package")
    return config.store.fresh(config.store.vnf_package(pkg_id)) / PACKAGE_FILE


def fail_upload(
    factory: SessionFactory, config: CatalogConfig, pkg_id: str, exc: BaseException
) -> None:
    directory = config.store.vnf_package(pkg_id)
    onboarding.fail(factory, VnfPackage, pkg_id, exc, lambda: config.store.remove(directory))


def process_upload(factory: SessionFactory, config: CatalogConfig, pkg_id: str) -> None:
    """UPLOADING -> PROCESSING -> ONBOARDED (and ENABLED), or ERROR with the reason."""
    directory = config.store.vnf_package(pkg_id)
    try:
        onboarding.processing(factory, VnfPackage, pkg_id)
        csar = open_package(directory / PACKAGE_FILE, directory / CONTENT, config.limits)
        vnfd = sol001.parse_vnfd(csar.root, csar.entry)
        with unit_of_work(factory) as s:
            pkg = s.get_one(VnfPackage, pkg_id)
            _unique_vnfd(s, pkg, vnfd.vnfd_id)
            now = utcnow().isoformat()
            pkg.vnfd_id = vnfd.vnfd_id
            pkg.vnf_provider = vnfd.provider
            pkg.vnf_product_name = vnfd.product_name
            pkg.vnf_software_version = vnfd.software_version
            pkg.vnfd_version = vnfd.descriptor_version
            pkg.checksum = csar.checksum
            pkg.software_images = [{**i, "createdAt": now} for i in vnfd.software_images]
            pkg.additional_artifacts = _artifacts(csar, vnfd)
            pkg.vnfd = vnfd.to_dict()
            pkg.package = {**csar.summary(), "notes": csar.notes + vnfd.notes}
            pkg.onboarding_state = ONBOARDED
            pkg.operational_state = ENABLED
            notify.package(s, pkg)
    except BaseException as exc:
        fail_upload(factory, config, pkg_id, exc)
        raise


def _unique_vnfd(session: Session, pkg: VnfPackage, vnfd_id: str) -> None:
    """A VNFD id names one onboarded package in what any tenant can see."""
    stmt = select(VnfPackage.id).where(
        VnfPackage.vnfd_id == vnfd_id,
        VnfPackage.id != pkg.id,
        VnfPackage.onboarding_state == ONBOARDED,
    )
    if pkg.tenant_id is not None:
        stmt = stmt.where(
            or_(VnfPackage.tenant_id.is_(None), VnfPackage.tenant_id == pkg.tenant_id)
        )
    other = session.scalar(stmt)
    if other:
        raise Conflict(f"VNFD {vnfd_id!r} is already onboarded as VNF package {other}")


def _artifacts(csar: Csar, vnfd: sol001.Vnfd) -> list[dict[str, Any]]:
    """Files other than the VNFD, the metadata, manifest, certificates and images."""
    skip = set(tosca.entry_files(csar.root, csar.entry))
    skip |= {i["imagePath"] for i in vnfd.software_images}
    if csar.manifest:
        skip.add(csar.manifest.path)
    out = []
    for rel in csar.files:
        if rel in skip or rel == META_PATH or rel.endswith((".cert", ".cms")):
            continue
        out.append({"artifactPath": rel, "checksum": csar.digest(rel)})
    return out


def check_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid.at(
            ["body", "addressInformation"], "only http:// and https:// URIs are accepted"
        )


def upload_from_uri(
    factory: SessionFactory,
    config: CatalogConfig,
    who: Principal,
    pkg_id: str,
    request: UploadVnfPackageFromUriRequest,
) -> None:
    """Fetch the package (http/https only, size- and time-limited), then onboard it."""
    check_uri(request.address_information)
    dest = start_upload(factory, config, who, pkg_id)
    try:
        auth = (request.user_name, request.password or "") if request.user_name else None
        download(request.address_information, dest, config, auth)
    except BaseException as exc:
        fail_upload(factory, config, pkg_id, exc)
        raise
    process_upload(factory, config, pkg_id)


def download(
    uri: str, dest: Path, config: CatalogConfig, auth: tuple[str, str] | None = None
) -> None:
    limit, budget = config.limits.max_upload_bytes, config.uri_timeout
    parts = urlsplit(uri)
    shown = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()  # no credentials
    deadline = time.monotonic() + budget
    try:
        with (
            httpx.Client(timeout=budget, follow_redirects=True, max_redirects=5) as client,
            client.stream("GET", uri, auth=auth) as resp,
        ):
            if resp.status_code != 200:
                raise PackageError(f"fetching the package answered HTTP {resp.status_code}", shown)
            size = int(resp.headers.get("content-length") or 0)
            if size > limit:
                raise PackageTooLarge(
                    f"{shown}: the package is {size} bytes, more than the limit of {limit}"
                )
            total = 0
            with dest.open("xb") as f:
                for chunk in resp.iter_bytes():  # as it arrives: the deadline is checked often
                    total += len(chunk)
                    if total > limit:
                        raise PackageTooLarge(
                            f"{shown}: the package is larger than the limit of {limit} bytes"
                        )
                    if time.monotonic() > deadline:
                        raise PackageError(f"the download took longer than {budget:g} s", shown)
                    f.write(chunk)
    except httpx.TimeoutException:
        raise PackageError(f"the download took longer than {budget:g} s", shown) from None
    except httpx.HTTPError as exc:
        raise PackageError(f"cannot fetch the package ({exc})", shown) from None


# ------------------------------------------------------------------ reading and changing


def modify(
    session: Session, who: Principal, pkg_id: str, mods: VnfPkgInfoModifications
) -> dict[str, Any]:
    pkg = get_package(session, who, pkg_id)
    _owned(who, pkg, "modifying")
    if mods.operational_state is None and mods.user_defined_data is None:
        raise Invalid.at(["body"], "give operationalState and/or userDefinedData")
    if mods.operational_state is not None:
        onboarding.check_state_change(
            "package", pkg.onboarding_state, pkg.operational_state, mods.operational_state
        )
        pkg.operational_state = mods.operational_state
        notify.package(session, pkg, "OP_STATE_CHANGE")
    if mods.user_defined_data is not None:
        pkg.user_defined_data = merge_patch(pkg.user_defined_data, mods.user_defined_data)
    return mods.model_dump(by_alias=True, exclude_none=True)


def delete_package(session: Session, config: CatalogConfig, who: Principal, pkg_id: str) -> None:
    pkg = get_package(session, who, pkg_id)
    _owned(who, pkg, "deleting")
    if pkg.operational_state == ENABLED:
        raise Conflict("the package is ENABLED: disable it first (PATCH operationalState)")
    if usage_of(session, pkg) == IN_USE:
        users = session.scalars(
            select(NsDescriptor.id)
            .join(NsdVnfPackage, NsdVnfPackage.nsd_id == NsDescriptor.id)
            .where(NsdVnfPackage.vnf_package_id == pkg.id)
        ).all()
        raise Conflict(f"the package is IN_USE by NS descriptors {sorted(users)}")
    if pkg.onboarding_state in (UPLOADING, PROCESSING):
        raise Conflict(f"the package is {pkg.onboarding_state}: wait until that ends")
    notify.package(session, pkg, "PKG_DELETE")
    session.delete(pkg)
    session.flush()
    config.store.remove(config.store.vnf_package(pkg.id))


def _onboarded(pkg: VnfPackage) -> None:
    if pkg.onboarding_state != ONBOARDED:
        raise Conflict(f"the package is {pkg.onboarding_state}, not ONBOARDED")


def package_file(session: Session, config: CatalogConfig, who: Principal, pkg_id: str) -> Path:
    pkg = get_package(session, who, pkg_id)
    _onboarded(pkg)
    return config.store.vnf_package(pkg.id) / PACKAGE_FILE


def vnfd_files(
    session: Session, config: CatalogConfig, who: Principal, pkg_id: str
) -> tuple[Path, list[str]]:
    """The content root and the VNFD's files in it (with TOSCA.meta when the package has
    one): what GET .../vnfd serves."""
    pkg = get_package(session, who, pkg_id)
    _onboarded(pkg)
    root = config.store.vnf_package(pkg.id) / CONTENT
    entry = (pkg.package or {}).get("entry_definitions", "")
    files = tosca.entry_files(root, entry)
    if (root / META_PATH).is_file():
        files.append(META_PATH)
    return root, files


def artifact(
    session: Session, config: CatalogConfig, who: Principal, pkg_id: str, path: str
) -> Path:
    pkg = get_package(session, who, pkg_id)
    _onboarded(pkg)
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or ".." in parts or "\\" in path:
        raise NotFound("artifact", path)
    root = (config.store.vnf_package(pkg.id) / CONTENT).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFound("artifact", path)
    return target


def lookup_vnfd(
    session: Session, owner: str | None, vnfd_id: str
) -> tuple[VnfPackage, sol001.Vnfd] | None:
    """The onboarded, enabled package of a VNFD that an NSD of `owner` (a tenant id, or None
    for a published NSD) may use: a published one, or the owner's own."""
    stmt = select(VnfPackage).where(
        VnfPackage.vnfd_id == vnfd_id,
        VnfPackage.onboarding_state == ONBOARDED,
        VnfPackage.operational_state == ENABLED,
    )
    stmt = stmt.where(
        VnfPackage.tenant_id.is_(None)
        if owner is None
        else or_(VnfPackage.tenant_id.is_(None), VnfPackage.tenant_id == owner)
    )
    pkg = session.scalars(stmt.order_by(VnfPackage.tenant_id.is_(None))).first()
    if pkg is None or pkg.vnfd is None:
        return None
    return pkg, sol001.Vnfd.from_dict(pkg.vnfd)
