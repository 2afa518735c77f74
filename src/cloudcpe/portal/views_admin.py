"""The Administration Portal (operators): topology, tenants, devices, sites, catalog,
all services. Operations, users and the audit log are the shared pages."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from cloudcpe.api.deps import CatalogDep, FactoryDep, SessionDep, SettingsDep
from cloudcpe.auth import users
from cloudcpe.auth.principal import Principal
from cloudcpe.catalog import nsds, packages
from cloudcpe.catalog import service as catalog
from cloudcpe.catalog.schemas import NsDescriptorCreate
from cloudcpe.catalog.sol004 import PackageError
from cloudcpe.catalog.sol005 import (
    CreateVnfPkgInfoRequest,
    NsdInfoModifications,
    VnfPkgInfoModifications,
)
from cloudcpe.errors import Conflict, DomainError, Invalid
from cloudcpe.inventory import pops
from cloudcpe.inventory import service as inventory
from cloudcpe.inventory.schemas import (
    ComputeNodeCreate,
    DeviceCreate,
    PopCreate,
    SiteCreate,
    TenantCreate,
)
from cloudcpe.placement import load
from cloudcpe.portal import forms, overview, pictures
from cloudcpe.portal.web import (
    FormDep,
    Visitor,
    VisitorDep,
    WriterDep,
    field_errors,
    render,
    require_operator_pages,
    see_other,
)
from cloudcpe.store.db import unit_of_work

router = APIRouter(prefix="/admin", include_in_schema=False)


def _op(visitor: Visitor) -> Visitor:
    require_operator_pages(visitor)
    return visitor


def _values(form: FormDep) -> dict[str, Any]:
    return {k: str(v).strip() for k, v in form.items() if k != "csrf" and str(v).strip() != ""}


def _parse(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """Form values -> the API's input model; its errors as the API would name them."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        from cloudcpe.errors import FieldError

        raise Invalid(
            [FieldError(["body", *[str(p) for p in e["loc"]]], e["msg"]) for e in exc.errors()]
        ) from None


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    who = _op(visitor).principal
    sites = overview.site_views(session, who)
    ops = overview.operations_json(session, who)
    counts = {
        "tenants": len(inventory.list_tenants(session, who)),
        "sites": len(sites),
        "devices": sum(1 for s in sites if s.device),
        "services": sum(len(s.services) for s in sites),
        "failed operations": sum(1 for o in ops if o["state"] in ("FAILED_TEMP", "FAILED")),
    }
    return render(
        request,
        "admin/dashboard.html",
        topology=pictures.topology(sites, _pop_names(session, who)),
        counts=counts,
        ops=ops[:8],
    )


# ------------------------------------------------------------------------------ tenants


def _tenants_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    who = _op(visitor).principal
    sites = overview.site_views(session, who)
    per_tenant: dict[str, int] = {}
    for sv in sites:
        per_tenant[sv.site.tenant_id] = per_tenant.get(sv.site.tenant_id, 0) + 1
    return render(
        request,
        "admin/tenants.html",
        tenants=inventory.list_tenants(session, who),
        site_counts=per_tenant,
        errors=ctx.pop("errors", {}),
        values=ctx.pop("values", {}),
        status_code=ctx.pop("status_code", 200),
    )


@router.get("/tenants", response_class=HTMLResponse)
def tenants(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _tenants_page(request, session, visitor)


@router.post("/tenants")
def create_tenant(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = _values(form)
    try:
        t = inventory.create_tenant(session, _op(visitor).principal, _parse(TenantCreate, values))
    except Invalid as exc:
        return _tenants_page(
            request, session, visitor, errors=field_errors(exc), values=values, status_code=422
        )
    return see_other(f"/admin/tenants/{t.id}")


@router.get("/tenants/{tenant_id}", response_class=HTMLResponse)
def tenant(request: Request, session: SessionDep, visitor: VisitorDep, tenant_id: str) -> Response:
    who = _op(visitor).principal
    t = inventory.get_tenant(session, who, tenant_id)
    sites = [sv for sv in overview.site_views(session, who) if sv.site.tenant_id == t.id]
    people = [u for u in users.list_users(session, who) if u.tenant_id == t.id]
    return render(request, "admin/tenant.html", tenant=t, sites=sites, people=people)


# ------------------------------------------------------------------------------ devices


def _devices_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    who = _op(visitor).principal
    sites = overview.site_views(session, who)
    return render(
        request,
        "admin/devices.html",
        devices=[sv for sv in sites if sv.device],
        free_sites=[sv for sv in sites if sv.device is None],
        issued=ctx.get("issued"),
        errors=ctx.get("errors", {}),
        values=ctx.get("values", {}),
        status_code=ctx.get("status_code", 200),
    )


@router.get("/devices", response_class=HTMLResponse)
def devices(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _devices_page(request, session, visitor)


@router.post("/devices")
def register_device(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep, settings: SettingsDep
) -> Response:
    """As POST /api/v1/devices; an agent-managed device's activation code is shown once, in
    this answer (not stored: only its hash is)."""
    values = _values(form)
    ttl = timedelta(seconds=settings.activation_ttl_seconds)
    try:
        created = inventory.create_device(
            session, _op(visitor).principal, _parse(DeviceCreate, values), ttl
        )
    except Invalid as exc:
        return _devices_page(
            request, session, visitor, errors=field_errors(exc), values=values, status_code=422
        )
    if created.activation_code is None:
        return see_other("/admin/devices")
    session.flush()
    issued = {"device": created.name, "serial": created.serial, "code": created.activation_code}
    return _no_store(_devices_page(request, session, visitor, issued=issued, status_code=201))


@router.post("/devices/{device_id}/activation_code")
def reissue_activation_code(
    request: Request,
    session: SessionDep,
    visitor: WriterDep,
    settings: SettingsDep,
    device_id: str,
) -> Response:
    """As POST /api/v1/devices/{id}/activation_code: the previous code stops working."""
    who = _op(visitor).principal
    ttl = timedelta(seconds=settings.activation_ttl_seconds)
    new = inventory.new_activation_code(session, who, device_id, ttl)
    device = inventory.get_device(session, who, device_id)
    issued = {
        "device": device.name,
        "serial": device.serial,
        "code": new.activation_code,
        "expires_at": new.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
    }
    return _no_store(_devices_page(request, session, visitor, issued=issued, status_code=201))


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -------------------------------------------------------------------------------- sites


def _sites_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    who = _op(visitor).principal
    return render(
        request,
        "admin/sites.html",
        sites=overview.site_views(session, who),
        tenants=inventory.list_tenants(session, who),
        errors=ctx.get("errors", {}),
        values=ctx.get("values", {}),
        status_code=ctx.get("status_code", 200),
    )


@router.get("/sites", response_class=HTMLResponse)
def sites(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _sites_page(request, session, visitor)


@router.post("/sites")
def create_site(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = _values(form)
    try:
        inventory.create_site(session, _op(visitor).principal, _parse(SiteCreate, values))
    except Invalid as exc:
        return _sites_page(
            request, session, visitor, errors=field_errors(exc), values=values, status_code=422
        )
    return see_other("/admin/sites")


# ------------------------------------------------------------------ POPs, compute nodes


def _pop_names(session: SessionDep, who: Principal) -> dict[str, str]:
    """POP names for those who may read POPs (operator admins, as in the API)."""
    return {p.id: p.name for p in pops.list_pops(session, who)} if who.can("operate") else {}


def _pops_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    """As GET /api/v1/pops and /api/v1/compute_nodes: the same views, with their load (and
    the same rule: operator admins only)."""
    who = _op(visitor).principal
    found = pops.list_pops(session, who)
    nodes = load.compute_node_views(session, pops.list_compute_nodes(session, who))
    return render(
        request,
        "admin/pops.html",
        pops=[load.pop_view(session, pop) for pop in found],
        nodes=nodes,
        pop_errors=ctx.get("pop_errors", {}),
        pop_values=ctx.get("pop_values", {}),
        node_errors=ctx.get("node_errors", {}),
        node_values=ctx.get("node_values", {}),
        status_code=ctx.get("status_code", 200),
    )


@router.get("/pops", response_class=HTMLResponse)
def pops_page(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _pops_page(request, session, visitor)


@router.post("/pops")
def create_pop(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = _values(form)
    try:
        pops.create_pop(session, _op(visitor).principal, _parse(PopCreate, values))
    except Invalid as exc:
        return _pops_page(
            request,
            session,
            visitor,
            pop_errors=field_errors(exc),
            pop_values=values,
            status_code=422,
        )
    return see_other("/admin/pops")


@router.post("/compute_nodes")
def create_compute_node(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = _values(form)
    body = {k: v for k, v in values.items() if k != "pop_id"}
    try:
        pops.create_compute_node(
            session,
            _op(visitor).principal,
            values.get("pop_id", ""),
            _parse(ComputeNodeCreate, body),
        )
    except Invalid as exc:
        return _pops_page(
            request,
            session,
            visitor,
            node_errors=field_errors(exc),
            node_values=values,
            status_code=422,
        )
    return see_other("/admin/pops")


# ------------------------------------------------------------------------------ catalog


def _catalog_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    who = _op(visitor).principal
    return render(
        request,
        "admin/catalog.html",
        descriptors=catalog.list_descriptors(session, who),
        packages=packages.list_packages(session, who),
        tenants={t.id: t.name for t in inventory.list_tenants(session, who)},
        notice=ctx.get("notice"),
        errors=ctx.get("errors", {}),
        values=ctx.get("values", {}),
        status_code=ctx.get("status_code", 200),
    )


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _catalog_page(request, session, visitor)


@router.post("/catalog")
def create_descriptor(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    """The simple chain format: a JSON list of {name, function, params}, LAN to WAN."""
    values = _values(form)
    try:
        body = {k: v for k, v in values.items() if k != "chain"}
        body["chain"] = forms.parse_json(values.get("chain", ""), ["body", "chain"])
        catalog.create_descriptor(session, _op(visitor).principal, _parse(NsDescriptorCreate, body))
    except Invalid as exc:
        return _catalog_page(
            request, session, visitor, errors=field_errors(exc), values=values, status_code=422
        )
    return see_other("/admin/catalog")


@router.post("/catalog/{nsd_id}/delete")
def delete_descriptor(
    request: Request, session: SessionDep, visitor: WriterDep, config: CatalogDep, nsd_id: str
) -> Response:
    """As DELETE /api/v1/ns_descriptors/{id} (its stored SOL001 content goes too)."""
    try:
        catalog.delete_descriptor(session, _op(visitor).principal, nsd_id, config.store)
    except Conflict as exc:
        return _catalog_page(request, session, visitor, notice=exc.detail, status_code=409)
    return see_other("/admin/catalog")


def _state(form: FormDep) -> str:
    state = str(form.get("state", ""))
    if state not in ("ENABLED", "DISABLED"):
        raise Invalid.at(["body", "state"], "ENABLED or DISABLED")
    return state


@router.post("/catalog/{nsd_id}/state")
def descriptor_state(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep, nsd_id: str
) -> Response:
    """Enable / disable a descriptor, as PATCH /nsd/v1/ns_descriptors/{id}."""
    who = _op(visitor).principal
    who.require("operate", "enabling or disabling a descriptor")
    mods = NsdInfoModifications.model_validate({"nsdOperationalState": _state(form)})
    try:
        nsds.modify(session, who, nsd_id, mods)
    except Conflict as exc:
        return _catalog_page(request, session, visitor, notice=exc.detail, status_code=409)
    return see_other("/admin/catalog")


# -------------------------------------------------------------- catalog: VNF packages


@router.post("/catalog/packages")
async def onboard_package(
    request: Request,
    session: SessionDep,
    visitor: WriterDep,
    form: FormDep,
    factory: FactoryDep,
    config: CatalogDep,
) -> Response:
    """Create a VNF package and onboard its SOL004 zip, as POST /vnfpkgm/v1/vnf_packages then
    PUT .../package_content. A refused package stays listed in ERROR with the reason."""
    who = _op(visitor).principal
    upload = form.get("package")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors = {"package": "choose an SOL004 VNF package (a zip)"}
        return _catalog_page(request, session, visitor, errors=errors, status_code=422)
    who.require("operate", "onboarding a VNF package")

    def create() -> str:
        with unit_of_work(factory) as s:
            return packages.create_package(s, who, CreateVnfPkgInfoRequest()).id

    pkg_id = await run_in_threadpool(create)
    dest = await run_in_threadpool(packages.start_upload, factory, config, who, pkg_id)
    try:
        await run_in_threadpool(_copy, upload, dest, config.limits.max_upload_bytes)
    except BaseException as exc:
        await run_in_threadpool(packages.fail_upload, factory, config, pkg_id, exc)
        if not isinstance(exc, DomainError):
            raise
        return see_other(f"/admin/catalog#pkg-{pkg_id}")
    # a refusal is recorded on the package (ERROR, onboardingFailureDetails), shown in the list
    with contextlib.suppress(DomainError):
        await run_in_threadpool(packages.process_upload, factory, config, pkg_id)
    return see_other(f"/admin/catalog#pkg-{pkg_id}")


def _copy(upload: UploadFile, dest: Path, limit: int) -> None:
    upload.file.seek(0)
    size = 0
    with dest.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise PackageError(f"the package is larger than {limit} bytes")
            out.write(chunk)


@router.post("/catalog/packages/{pkg_id}/state")
def package_state(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep, pkg_id: str
) -> Response:
    """Enable / disable an onboarded package, as PATCH /vnfpkgm/v1/vnf_packages/{id}."""
    who = _op(visitor).principal
    who.require("operate", "enabling or disabling a VNF package")
    mods = VnfPkgInfoModifications.model_validate({"operationalState": _state(form)})
    try:
        packages.modify(session, who, pkg_id, mods)
    except Conflict as exc:
        return _catalog_page(request, session, visitor, notice=exc.detail, status_code=409)
    return see_other("/admin/catalog")


@router.post("/catalog/packages/{pkg_id}/delete")
def delete_package(
    request: Request, session: SessionDep, visitor: WriterDep, config: CatalogDep, pkg_id: str
) -> Response:
    """As DELETE /vnfpkgm/v1/vnf_packages/{id}: refused (409) while ENABLED or IN_USE."""
    who = _op(visitor).principal
    who.require("operate", "deleting a VNF package")
    try:
        packages.delete_package(session, config, who, pkg_id)
    except Conflict as exc:
        return _catalog_page(request, session, visitor, notice=exc.detail, status_code=409)
    return see_other("/admin/catalog")


# ----------------------------------------------------------------------------- services


@router.get("/services", response_class=HTMLResponse)
def services(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    who = _op(visitor).principal
    return render(request, "admin/services.html", sites=overview.site_views(session, who))
