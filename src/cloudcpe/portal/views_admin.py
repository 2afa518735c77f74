"""The Administration Portal (operators): topology, tenants, devices, sites, catalog,
all services. Operations, users and the audit log are the shared pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from cloudcpe.api.deps import SessionDep
from cloudcpe.auth import users
from cloudcpe.catalog import service as catalog
from cloudcpe.catalog.schemas import NsDescriptorCreate
from cloudcpe.errors import Invalid
from cloudcpe.inventory import service as inventory
from cloudcpe.inventory.schemas import DeviceCreate, SiteCreate, TenantCreate
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
        topology=pictures.topology(sites),
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
        errors=ctx.get("errors", {}),
        values=ctx.get("values", {}),
        status_code=ctx.get("status_code", 200),
    )


@router.get("/devices", response_class=HTMLResponse)
def devices(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _devices_page(request, session, visitor)


@router.post("/devices")
def register_device(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = _values(form)
    try:
        inventory.create_device(session, _op(visitor).principal, _parse(DeviceCreate, values))
    except Invalid as exc:
        return _devices_page(
            request, session, visitor, errors=field_errors(exc), values=values, status_code=422
        )
    return see_other("/admin/devices")


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


# ------------------------------------------------------------------------------ catalog


def _catalog_page(request: Request, session: SessionDep, visitor: Visitor, **ctx: Any) -> Response:
    who = _op(visitor).principal
    return render(
        request,
        "admin/catalog.html",
        descriptors=catalog.list_descriptors(session, who),
        tenants={t.id: t.name for t in inventory.list_tenants(session, who)},
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
def delete_descriptor(session: SessionDep, visitor: WriterDep, nsd_id: str) -> Response:
    catalog.delete_descriptor(session, _op(visitor).principal, nsd_id)
    return see_other("/admin/catalog")


# ----------------------------------------------------------------------------- services


@router.get("/services", response_class=HTMLResponse)
def services(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    who = _op(visitor).principal
    return render(request, "admin/services.html", sites=overview.site_views(session, who))
