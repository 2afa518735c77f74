"""SOL005 VNF Package Management (/vnfpkgm/v1): thin routes over catalog.packages."""

from __future__ import annotations

import io
import mimetypes
import zipfile
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Row

from cloudcpe.api.deps import CatalogDep, FactoryDep, PageSizeDep, PrincipalDep, SessionDep
from cloudcpe.api.sol005 import content
from cloudcpe.api.sol005.common import (
    API,
    LIST_ROUTE,
    NotAcceptable,
    accepts_json,
    base_url,
    negotiate,
    sol005_router,
)
from cloudcpe.api.sol005.query import ListQuery, Resource, list_page
from cloudcpe.catalog import packages
from cloudcpe.catalog.models import VnfPackage
from cloudcpe.catalog.sol005 import (
    CreateVnfPkgInfoRequest,
    UploadVnfPackageFromUriRequest,
    VnfPkgInfo,
    VnfPkgInfoModifications,
    present_vnf_package,
    vnf_package_attributes,
)

VNFPKGM = API["vnfpkgm"]
router = sol005_router(VNFPKGM)
JSON_ONLY = [Depends(accepts_json)]
VNF_PKG_INFO = Resource(
    "VnfPkgInfo",
    VnfPkgInfo,
    vnf_package_attributes,
    ("softwareImages", "additionalArtifacts", "userDefinedData", "checksum"),
)
VnfPkgQuery = Annotated[ListQuery, Depends(VNF_PKG_INFO.query)]


def _json(info: VnfPkgInfo, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(info.model_dump(mode="json", exclude_none=True), status, headers=headers)


@router.get("/vnf_packages", dependencies=JSON_ONLY, **LIST_ROUTE)
def list_vnf_packages(
    request: Request, q: VnfPkgQuery, session: SessionDep, who: PrincipalDep, page: PageSizeDep
) -> Response:
    base = base_url(request)

    def render(rows: Sequence[Row[VnfPackage, str]]) -> list[dict[str, Any]]:
        return [
            present_vnf_package(pkg, usage, base).model_dump(mode="json", exclude_none=True)
            for pkg, usage in rows
        ]

    order = (VnfPackage.created_at, VnfPackage.id)
    stmt = packages.visible_stmt(who)
    return list_page(session, stmt, q, VNF_PKG_INFO, render, order=order, page_size=page).response(
        request
    )


@router.post("/vnf_packages", status_code=201, dependencies=JSON_ONLY)
def create_vnf_package(
    request: Request, data: CreateVnfPkgInfoRequest, session: SessionDep, who: PrincipalDep
) -> Response:
    pkg = packages.create_package(session, who, data)
    info = present_vnf_package(pkg, "NOT_IN_USE", base_url(request))
    return _json(info, 201, Location=info.links.self.href)


@router.get("/vnf_packages/{vnf_pkg_id}", dependencies=JSON_ONLY)
def get_vnf_package(
    request: Request, vnf_pkg_id: str, session: SessionDep, who: PrincipalDep
) -> Response:
    pkg = packages.get_package(session, who, vnf_pkg_id)
    return _json(present_vnf_package(pkg, packages.usage_of(session, pkg), base_url(request)))


@router.patch("/vnf_packages/{vnf_pkg_id}", dependencies=JSON_ONLY)
def modify_vnf_package(
    vnf_pkg_id: str, mods: VnfPkgInfoModifications, session: SessionDep, who: PrincipalDep
) -> Response:
    """Enable / disable an onboarded package; change userDefinedData (JSON merge patch)."""
    return JSONResponse(packages.modify(session, who, vnf_pkg_id, mods))


@router.delete("/vnf_packages/{vnf_pkg_id}", status_code=204)
def delete_vnf_package(
    vnf_pkg_id: str, session: SessionDep, who: PrincipalDep, catalog: CatalogDep
) -> Response:
    packages.delete_package(session, catalog, who, vnf_pkg_id)
    return Response(status_code=204)


@router.put("/vnf_packages/{vnf_pkg_id}/package_content", status_code=202)
async def upload_package_content(
    vnf_pkg_id: str, request: Request, who: PrincipalDep, catalog: CatalogDep, factory: FactoryDep
) -> Response:
    """The package (an SOL004 zip) as the body (application/zip) or as the `file` part of
    multipart/form-data. Answers 202 once onboarded; a refused package is left in ERROR
    with the reason (onboardingFailureDetails) and the answer is that ProblemDetails."""
    dest = await run_in_threadpool(packages.start_upload, factory, catalog, who, vnf_pkg_id)
    try:
        limit = catalog.limits.max_upload_bytes
        await content.receive(request, dest, limit, content.ZIP_TYPES)
    except BaseException as exc:
        await run_in_threadpool(packages.fail_upload, factory, catalog, vnf_pkg_id, exc)
        raise
    await run_in_threadpool(packages.process_upload, factory, catalog, vnf_pkg_id)
    return Response(status_code=202)


@router.post(
    "/vnf_packages/{vnf_pkg_id}/package_content/upload_from_uri",
    status_code=202,
    dependencies=JSON_ONLY,
)
def upload_package_from_uri(
    vnf_pkg_id: str,
    data: UploadVnfPackageFromUriRequest,
    who: PrincipalDep,
    catalog: CatalogDep,
    factory: FactoryDep,
) -> Response:
    """Fetch the package from an http(s) URI (limited in size and in time), then onboard it."""
    packages.upload_from_uri(factory, catalog, who, vnf_pkg_id, data)
    return Response(status_code=202)


@router.get("/vnf_packages/{vnf_pkg_id}/package_content")
def get_package_content(
    vnf_pkg_id: str, request: Request, session: SessionDep, who: PrincipalDep, catalog: CatalogDep
) -> Response:
    media = negotiate(request, [content.ZIP])
    path = packages.package_file(session, catalog, who, vnf_pkg_id)
    return content.file_response(request, path, media)


@router.get("/vnf_packages/{vnf_pkg_id}/vnfd")
def get_vnfd(
    vnf_pkg_id: str, request: Request, session: SessionDep, who: PrincipalDep, catalog: CatalogDep
) -> Response:
    """text/plain when the VNFD is one file, else (or when asked) a zip of its files."""
    root, files = packages.vnfd_files(session, catalog, who, vnf_pkg_id)
    descriptors = [f for f in files if not f.startswith("TOSCA-Metadata/")]
    single = len(descriptors) == 1
    offered = [content.TEXT, content.ZIP] if single else [content.ZIP]
    try:
        media = negotiate(request, offered)
    except NotAcceptable:
        if single:
            raise
        raise NotAcceptable(
            f"the VNFD is {len(descriptors)} files: it is served as application/zip only"
        ) from None
    if media == content.TEXT:
        return Response((root / descriptors[0]).read_bytes(), media_type=content.TEXT)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in files:
            zf.write(root / name, name)
    return Response(buf.getvalue(), media_type=content.ZIP)


@router.get("/vnf_packages/{vnf_pkg_id}/artifacts/{artifact_path:path}")
def get_artifact(
    vnf_pkg_id: str,
    artifact_path: str,
    request: Request,
    session: SessionDep,
    who: PrincipalDep,
    catalog: CatalogDep,
) -> Response:
    path = packages.artifact(session, catalog, who, vnf_pkg_id, artifact_path)
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    media = negotiate(request, list(dict.fromkeys([guessed, "application/octet-stream"])))
    return content.file_response(request, path, media)
