"""The Customer Portal (tenants): sites and services, ordering a service. A service's own
page, operations, users and the audit log are the shared pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cloudcpe.api.deps import SessionDep
from cloudcpe.catalog import service as catalog
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.errors import FieldError, Invalid
from cloudcpe.functions import get_kind
from cloudcpe.inventory import service as inventory
from cloudcpe.lcm import service as lcm
from cloudcpe.lcm.schemas import NsInstanceCreate
from cloudcpe.portal import forms, overview, pictures
from cloudcpe.portal.views_common import _wake
from cloudcpe.portal.web import (
    FormDep,
    Visitor,
    VisitorDep,
    WriterDep,
    render,
    require_tenant_pages,
    see_other,
)

router = APIRouter(prefix="/portal", include_in_schema=False)


def _tenant(visitor: Visitor) -> Visitor:
    require_tenant_pages(visitor)
    return visitor


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    who = _tenant(visitor).principal
    sites = overview.site_views(session, who)
    tenant = inventory.get_tenant(session, who, who.tenant_id or "")
    return render(
        request,
        "customer/home.html",
        tenant=tenant,
        sites=sites,
        topology=pictures.topology(sites),
        ops=overview.operations_json(session, who)[:8],
    )


def settable(nsd: NsDescriptor) -> list[dict[str, Any]]:
    """Per chain element, the parameters a customer may set, with their current defaults.
    A descriptor that marks none leaves every parameter of every function open."""
    any_marked = any(el.get("customer_params") for el in nsd.chain)
    out = []
    for el in nsd.chain:
        schema = get_kind(el["function"]).schema()
        names = el.get("customer_params") or ([] if any_marked else list(schema["properties"]))
        out.append(
            {
                "name": el["name"],
                "function": el["function"],
                "params": [
                    {
                        "name": p,
                        "value": el.get("params", {}).get(p),
                        "schema": schema["properties"].get(p, {}),
                    }
                    for p in names
                ],
            }
        )
    return out


def _order_page(
    request: Request,
    session: SessionDep,
    visitor: Visitor,
    nsd_id: str | None,
    *,
    values: dict[str, Any] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    who = _tenant(visitor).principal
    descriptors = catalog.list_descriptors(session, who)
    nsd = catalog.get_descriptor(session, who, nsd_id) if nsd_id else None
    elements = settable(nsd) if nsd else []
    overrides = overrides or {}
    for el in elements:
        for p in el["params"]:
            if p["name"] in overrides.get(el["name"], {}):
                p["value"] = overrides[el["name"]][p["name"]]
            if el["function"] == "firewall" and p["name"] == "rules":
                p["rows"] = forms.rule_rows(p["value"] or [])
    return render(
        request,
        "customer/order.html",
        status_code=status_code,
        descriptors=descriptors,
        nsd=nsd,
        chain_svg=pictures.chain(nsd.chain, "down") if nsd else None,
        elements=elements,
        sites=inventory.list_sites(session, who),
        values=values or {},
        errors=errors or {},
        protocols=forms.PROTOCOLS,
    )


@router.get("/order", response_class=HTMLResponse)
def order(request: Request, session: SessionDep, visitor: VisitorDep, nsd: str = "") -> Response:
    return _order_page(request, session, visitor, nsd or None)


def _overrides(nsd: NsDescriptor, form: FormDep) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for el in settable(nsd):
        vnf = el["name"]
        for p in el["params"]:
            name = p["name"]
            if el["function"] == "firewall" and name in ("rules", "default_action"):
                rules, default_action = forms.parse_rules(form, f"{vnf}.")
                out.setdefault(vnf, {})[name] = rules if name == "rules" else default_action
            else:
                value = forms.parse_json(
                    str(form.get(f"{vnf}.{name}", "")), ["body", "vnf_params", vnf, name]
                )
                if value is not None:
                    out.setdefault(vnf, {})[name] = value
    return out


@router.post("/order")
def review_order(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    """Step 2 of 3: the service is created (NOT_INSTANTIATED) with the API's validation;
    the confirm step instantiates it, cancel deletes it."""
    who = _tenant(visitor).principal
    values = {k: str(form.get(k, "")) for k in ("name", "site_id", "nsd_id", "description")}
    nsd = catalog.get_descriptor(session, who, values["nsd_id"])
    overrides: dict[str, dict[str, Any]] = {}
    try:
        overrides = _overrides(nsd, form)
        data = NsInstanceCreate.model_validate({**values, "vnf_params": overrides})
        ns = lcm.create_ns_instance(session, who, data)
    except Invalid as exc:
        session.rollback()
        return _order_page(
            request,
            session,
            visitor,
            nsd.id,
            values=values,
            overrides=overrides,
            errors=_order_errors(exc, nsd),
            status_code=422,
        )
    except ValueError as exc:  # pydantic: the name or ids in the wrong shape
        errs = {str(e["loc"][0]): e["msg"] for e in getattr(exc, "errors", list)()}
        return _order_page(
            request,
            session,
            visitor,
            nsd.id,
            values=values,
            overrides=overrides,
            errors={"fields": errs, "rules": {}, "params": {}},
            status_code=422,
        )
    return see_other(f"/portal/order/{ns.id}/confirm")


def _order_errors(exc: Invalid, nsd: NsDescriptor) -> dict[str, Any]:
    fields: dict[str, str] = {}
    params: dict[str, str] = {}
    rules: dict[str, dict[str, str]] = {}
    vnfs = {el["name"] for el in nsd.chain}
    for e in exc.errors:
        loc = e.loc
        if len(loc) >= 4 and loc[:2] == ["body", "vnf_params"] and loc[2] in vnfs:
            vnf = str(loc[2])
            if loc[3] == "rules" and len(loc) > 4:
                rules.setdefault(vnf, {}).update(forms.rule_errors(Invalid([e]), vnf))
            else:
                params[f"{vnf}.{loc[3]}"] = e.msg
        elif len(loc) >= 2:
            fields[str(loc[1])] = e.msg
        else:
            fields["_"] = f"{FieldError(loc, e.msg).path()}: {e.msg}"
    return {"fields": fields, "params": params, "rules": rules}


@router.get("/order/{ns_id}/confirm", response_class=HTMLResponse)
def confirm_page(
    request: Request, session: SessionDep, visitor: VisitorDep, ns_id: str
) -> Response:
    who = _tenant(visitor).principal
    ns = lcm.get_ns_instance(session, who, ns_id)
    view = overview.service_view(session, who, ns, None)
    return render(
        request,
        "customer/confirm.html",
        ns=ns,
        site=inventory.get_site(session, who, ns.site_id),
        view=view,
        chain_svg=pictures.chain(view.functions, "down"),
    )


@router.post("/order/{ns_id}/confirm")
def confirm(request: Request, session: SessionDep, visitor: WriterDep, ns_id: str) -> Response:
    lcm.instantiate(session, _tenant(visitor).principal, ns_id)
    _wake(request, session)
    return see_other(f"/services/{ns_id}")


@router.post("/order/{ns_id}/cancel")
def cancel(session: SessionDep, visitor: WriterDep, ns_id: str) -> Response:
    lcm.delete_ns_instance(session, _tenant(visitor).principal, ns_id)
    return see_other("/portal/order")
