"""SOL005 NSD Management (/nsd/v1): thin routes over catalog.nsds. PNF descriptors are not
supported (every /pnf_descriptors route answers 501 ProblemDetails saying so)."""

from __future__ import annotations

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
    NotImplementedYet,
    accepts_json,
    base_url,
    negotiate,
    sol005_router,
)
from cloudcpe.api.sol005.query import ListQuery, Resource, list_page
from cloudcpe.catalog import nsds
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.catalog.sol005 import (
    CreateNsdInfoRequest,
    NsdInfo,
    NsdInfoModifications,
    nsd_attributes,
    present_nsd,
)

NSD = API["nsd"]
router = sol005_router(NSD)
JSON_ONLY = [Depends(accepts_json)]
NSD_INFO = Resource("NsdInfo", NsdInfo, nsd_attributes, ("userDefinedData",))
NsdQuery = Annotated[ListQuery, Depends(NSD_INFO.query)]
NSD_CONTENT_TYPES = {**content.ZIP_TYPES, **content.YAML_TYPES}


def _json(info: NsdInfo, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(info.model_dump(mode="json", exclude_none=True), status, headers=headers)


@router.get("/ns_descriptors", dependencies=JSON_ONLY, **LIST_ROUTE)
def list_ns_descriptors(
    request: Request, q: NsdQuery, session: SessionDep, who: PrincipalDep, page: PageSizeDep
) -> Response:
    base = base_url(request)

    def render(rows: Sequence[Row[NsDescriptor, str]]) -> list[dict[str, Any]]:
        used = nsds.vnf_pkg_ids(session, [nsd.id for nsd, _ in rows])
        return [
            present_nsd(nsd, usage, base, used[nsd.id]).model_dump(mode="json", exclude_none=True)
            for nsd, usage in rows
        ]

    order = (NsDescriptor.created_at, NsDescriptor.id)
    stmt = nsds.visible_stmt(who)
    return list_page(session, stmt, q, NSD_INFO, render, order=order, page_size=page).response(
        request
    )


@router.post("/ns_descriptors", status_code=201, dependencies=JSON_ONLY)
def create_ns_descriptor(
    request: Request, data: CreateNsdInfoRequest, session: SessionDep, who: PrincipalDep
) -> Response:
    nsd = nsds.create_nsd_info(session, who, data)
    info = present_nsd(nsd, "NOT_IN_USE", base_url(request), [])
    return _json(info, 201, Location=info.links.self.href)


@router.get("/ns_descriptors/{nsd_info_id}", dependencies=JSON_ONLY)
def get_ns_descriptor(
    request: Request, nsd_info_id: str, session: SessionDep, who: PrincipalDep
) -> Response:
    nsd = nsds.get_nsd(session, who, nsd_info_id)
    used = nsds.vnf_pkg_ids(session, [nsd.id])[nsd.id]
    return _json(present_nsd(nsd, nsds.usage_of(session, nsd), base_url(request), used))


@router.patch("/ns_descriptors/{nsd_info_id}", dependencies=JSON_ONLY)
def modify_ns_descriptor(
    nsd_info_id: str, mods: NsdInfoModifications, session: SessionDep, who: PrincipalDep
) -> Response:
    """Enable / disable an onboarded NSD; change userDefinedData (JSON merge patch)."""
    return JSONResponse(nsds.modify(session, who, nsd_info_id, mods))


@router.delete("/ns_descriptors/{nsd_info_id}", status_code=204)
def delete_ns_descriptor(
    nsd_info_id: str, session: SessionDep, who: PrincipalDep, catalog: CatalogDep
) -> Response:
    nsds.delete_nsd(session, catalog, who, nsd_info_id)
    return Response(status_code=204)


@router.put("/ns_descriptors/{nsd_info_id}/nsd_content", status_code=202)
async def upload_nsd_content(
    nsd_info_id: str,
    request: Request,
    who: PrincipalDep,
    catalog: CatalogDep,
    factory: FactoryDep,
) -> Response:
    """The NSD as one YAML file (text/plain, application/yaml) or an SOL004 zip
    (application/zip), as the body or the `file` part of multipart/form-data. Answers 202
    once onboarded; a refused NSD is left in ERROR and the answer is its ProblemDetails."""
    dest = await run_in_threadpool(nsds.start_upload, factory, catalog, who, nsd_info_id)
    try:
        limit = catalog.limits.max_upload_bytes
        kind = await content.receive(request, dest, limit, NSD_CONTENT_TYPES)
    except BaseException as exc:
        await run_in_threadpool(nsds.fail_upload, factory, catalog, nsd_info_id, exc)
        raise
    await run_in_threadpool(nsds.process_upload, factory, catalog, nsd_info_id, kind)
    return Response(status_code=202)


@router.get("/ns_descriptors/{nsd_info_id}/nsd_content")
def get_nsd_content(
    nsd_info_id: str, request: Request, session: SessionDep, who: PrincipalDep, catalog: CatalogDep
) -> Response:
    """text/plain when the NSD is one file, else (or when asked) the zip."""
    found = nsds.nsd_content(session, catalog, who, nsd_info_id)
    offered = [content.TEXT, content.ZIP] if found.yaml is not None else [content.ZIP]
    try:
        media = negotiate(request, offered)
    except NotAcceptable:
        if found.yaml is not None:
            raise
        raise NotAcceptable("the NSD is several files: it is served as application/zip") from None
    if media == content.TEXT and found.yaml is not None:
        return content.file_response(request, found.yaml, media)
    data = found.zip_path if found.zip_path is not None else found.zip_bytes
    assert data is not None
    return content.file_response(request, data, media)


pnfd_router = sol005_router(NSD)


def pnf_descriptors(who: PrincipalDep) -> Response:
    raise NotImplementedYet(
        "PNF descriptors are not supported: cloudcpe's network services are made of VNFs "
        "(and its built-in functions) only"
    )


for _path, _methods in (
    ("/pnf_descriptors", ("GET", "POST")),
    ("/pnf_descriptors/{path:path}", ("GET", "POST", "PUT", "PATCH", "DELETE")),
):
    for _method in _methods:
        pnfd_router.add_api_route(
            _path,
            pnf_descriptors,
            methods=[_method],
            summary="PNF descriptors: not supported (501)",
            operation_id=f"pnfd_not_supported_{_method.lower()}_{_path.count('/')}",
        )
