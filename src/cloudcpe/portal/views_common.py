"""Pages every role has: login/logout, home, account (API tokens), a service, operations,
users, audit log, and the live event stream."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError

from cloudcpe.api.deps import SessionDep, client_address
from cloudcpe.auth import audit, users
from cloudcpe.auth import service as tokens
from cloudcpe.auth.principal import OPERATOR_ROLES, ROLES, TENANT_ROLES
from cloudcpe.auth.schemas import UserCreate, UserUpdate
from cloudcpe.auth.service import principal_of
from cloudcpe.auth.sessions import close_session, open_session, resolve_session
from cloudcpe.catalog import service as catalog
from cloudcpe.errors import FieldError, Invalid
from cloudcpe.inventory import service as inventory
from cloudcpe.lcm import service as lcm
from cloudcpe.lcm.schemas import UpdateRequest
from cloudcpe.portal import forms, overview, pictures
from cloudcpe.portal.web import (
    COOKIE,
    FormDep,
    VisitorDep,
    WriterDep,
    field_errors,
    render,
    see_other,
)
from cloudcpe.store.db import SessionFactory, unit_of_work

router = APIRouter(include_in_schema=False)


def _home_of(role: str) -> str:
    return "/admin" if role in OPERATOR_ROLES else "/portal"


def _safe_next(target: str | None, default: str) -> str:
    # a path on this site only: "//host" and "/\\host" would lead browsers elsewhere
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


LOGIN_NONCE = "ccpe_login"


def _login_form(request: Request, status_code: int = 200, **ctx: Any) -> Response:
    """The login form carries a nonce that must match a cookie set with it (double submit):
    another site cannot log a browser in under the attacker's account (login CSRF)."""
    nonce = secrets.token_urlsafe(24)
    resp = render(request, "login.html", status_code=status_code, nonce=nonce, **ctx)
    resp.set_cookie(
        LOGIN_NONCE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600,
        path="/login",
    )
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "") -> Response:
    return _login_form(request, next=next, error=None)


@router.post("/login")
def login(request: Request, session: SessionDep, form: FormDep) -> Response:
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    nonce = request.cookies.get(LOGIN_NONCE, "")
    if not nonce or not hmac.compare_digest(nonce, str(form.get("nonce", ""))):
        return _login_form(
            request,
            status_code=403,
            next=str(form.get("next", "")),
            error="the login form was stale; please log in again",
            name=name,
        )
    user = users.authenticate(session, name, password)
    if user is None:
        return _login_form(
            request,
            status_code=401,
            next=str(form.get("next", "")),
            error="wrong name or password",
            name=name,
        )
    secret, _ = open_session(session, user, client_address(request))
    resp = see_other(_safe_next(str(form.get("next", "")), _home_of(user.role)))
    resp.delete_cookie(LOGIN_NONCE, path="/login")
    resp.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
        path="/",
    )
    return resp


@router.post("/logout")
def logout(request: Request, session: SessionDep, visitor: WriterDep) -> Response:
    close_session(session, request.cookies.get(COOKIE, ""))
    resp = see_other("/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    secret = request.cookies.get(COOKIE)
    found = resolve_session(session, secret) if secret else None
    return see_other(_home_of(found[0].role) if found else "/login")


# ------------------------------------------------------------------- account: API tokens


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    mine = [
        t for t in tokens.list_tokens(session, visitor.principal) if t.user_id == visitor.user_id
    ]
    return render(request, "account.html", tokens=mine, new_token=None)


@router.post("/account/tokens")
def create_token(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    days = int(str(form.get("expires_in_days") or 90))
    name = str(form.get("name") or "token")[:63]
    secret, _ = tokens.issue_user_token(session, visitor.user, name, timedelta(days=days))
    mine = [
        t for t in tokens.list_tokens(session, visitor.principal) if t.user_id == visitor.user_id
    ]
    return render(request, "account.html", tokens=mine, new_token=secret)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: str, session: SessionDep, visitor: WriterDep) -> Response:
    tokens.revoke_token(session, visitor.principal, token_id)
    return see_other("/account")


# ------------------------------------------------------------------------ one service


def _service_page(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    ns_id: str,
    *,
    rule_rows: dict[str, list[dict[str, Any]]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    who = visitor.principal
    ns = lcm.get_ns_instance(session, who, ns_id)
    site = inventory.get_site(session, who, ns.site_id)
    last = overview.last_operations(session, who).get(ns.id)
    view = overview.service_view(session, who, ns, last)
    ops = overview.operations_json(session, who, ns.id)
    firewalls = [f for f in view.functions if f["function"] == "firewall"]
    rows = rule_rows or {
        f["name"]: forms.rule_rows(f["params"].get("rules", [])) for f in firewalls
    }
    return render(
        request,
        "service.html",
        status_code=status_code,
        ns=ns,
        site=site,
        view=view,
        ops=ops,
        chain_svg=pictures.chain(view.functions, view.status),
        chart_svg=pictures.operations_chart(ops),
        traffic=[
            (
                t,
                pictures.counters_chart(
                    f"if-{t.name}",
                    f"Bytes per interface of {t.name}",
                    t.interfaces,
                    ("received", "sent"),
                ),
                pictures.counters_chart(
                    f"rules-{t.name}",
                    f"Matches per firewall rule of {t.name}",
                    t.rules,
                    ("packets", "bytes"),
                )
                if t.function == "firewall"
                else None,
            )
            for t in overview.service_traffic(session, ns)
        ],
        firewalls=firewalls,
        rule_rows=rows,
        errors=errors or {},
        protocols=forms.PROTOCOLS,
    )


@router.get("/services/{ns_id}", response_class=HTMLResponse)
def service(request: Request, session: SessionDep, visitor: VisitorDep, ns_id: str) -> Response:
    return _service_page(request, session, visitor, ns_id)


@router.get("/services/{ns_id}/firewall/{vnf}")
def firewall_reloaded(ns_id: str, vnf: str) -> Response:
    """A reload of a page answered to a rejected policy: back to the service."""
    return see_other(f"/services/{ns_id}")


@router.post("/services/{ns_id}/firewall/{vnf}")
def edit_firewall(
    request: Request,
    session: SessionDep,
    visitor: WriterDep,
    form: FormDep,
    ns_id: str,
    vnf: str,
) -> Response:
    """The rules table, as an LCM `update` with the API's own validation."""
    rules, default_action = forms.parse_rules(form)
    params = {"rules": rules, "default_action": default_action}
    try:
        lcm.update(session, visitor.principal, ns_id, UpdateRequest(vnf_params={vnf: params}))
    except Invalid as exc:
        session.rollback()
        errs = forms.rule_errors(exc, vnf)
        return _service_page(
            request,
            session,
            visitor,
            ns_id,
            rule_rows={vnf: forms.rule_rows(rules)},
            errors={vnf: errs},
            status_code=422,
        )
    _wake(request, session)
    return see_other(f"/services/{ns_id}#operations")


@router.post("/services/{ns_id}/{action}")
def service_action(
    request: Request, session: SessionDep, visitor: WriterDep, ns_id: str, action: str
) -> Response:
    actions = {"instantiate": lcm.instantiate, "terminate": lcm.terminate}
    if action == "delete":
        lcm.delete_ns_instance(session, visitor.principal, ns_id)
        return see_other("/")
    if action not in actions:
        raise Invalid.at(["action"], f"unknown action {action!r}")
    actions[action](session, visitor.principal, ns_id)
    _wake(request, session)
    return see_other(f"/services/{ns_id}#operations")


def _wake(request: Request, session: SessionDep) -> None:
    """The operation is durable before the worker hears of it: commit, then wake it."""
    session.commit()
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()


# -------------------------------------------------------------------------- operations


@router.get("/operations", response_class=HTMLResponse)
def operations(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    ops = overview.operations_json(session, visitor.principal)
    return render(request, "operations.html", ops=ops)


@router.post("/operations/{op_id}/{action}")
def operation_action(
    request: Request, session: SessionDep, visitor: WriterDep, op_id: str, action: str
) -> Response:
    acts = {"retry": lcm.retry, "rollback": lcm.rollback, "fail": lcm.fail}
    if action not in acts:
        raise Invalid.at(["action"], f"unknown action {action!r}")
    acts[action](session, visitor.principal, op_id)
    _wake(request, session)
    return see_other(str(request.headers.get("referer") or "/operations"))


@router.get("/live/operations")
async def live_operations(
    request: Request, visitor: VisitorDep, ns_id: str | None = None
) -> StreamingResponse:
    """Server-sent events: the visible operations and service states whenever they change."""
    factory: SessionFactory = request.app.state.session_factory
    who = visitor.principal

    def snapshot() -> str:
        with unit_of_work(factory) as s:
            return json.dumps(
                {
                    "operations": overview.operations_json(s, who, ns_id),
                    "services": overview.services_json(s, who),
                },
                sort_keys=True,
            )

    async def stream() -> AsyncIterator[str]:
        last = ""
        yield "retry: 2000\n\n"
        for _ in range(240):  # at most ~2 minutes; the browser reconnects by itself
            if await request.is_disconnected():
                return
            data = await run_in_threadpool(snapshot)
            if data != last:
                last = data
                yield f"event: operations\ndata: {data}\n\n"
            await asyncio.sleep(0.5)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ------------------------------------------------------------------------------- users


def _users_page(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    who = visitor.principal
    roles = [r for r in ROLES if who.is_operator or r in TENANT_ROLES]
    if who.role != "operator_admin":
        roles = [r for r in roles if r in TENANT_ROLES]
    return render(
        request,
        "users.html",
        status_code=status_code,
        users=users.list_users(session, who),
        tenants={t.id: t.name for t in inventory.list_tenants(session, who)},
        roles=roles,
        errors=errors or {},
        values=values or {},
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    return _users_page(request, session, visitor)


@router.post("/users")
def create_user(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    values["tenant_id"] = values.get("tenant_id") or None  # type: ignore[assignment]
    try:
        data = UserCreate.model_validate({k: values.get(k) for k in UserCreate.model_fields})
        users.create_user(session, visitor.principal, data)
    except ValidationError as exc:
        errs = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
        return _users_page(request, session, visitor, errs, values, 422)
    except Invalid as exc:
        session.rollback()
        return _users_page(request, session, visitor, field_errors(exc), values, 422)
    return see_other(str(request.headers.get("referer") or "/users"))


@router.post("/users/{user_id}/{action}")
def user_action(
    request: Request, session: SessionDep, visitor: WriterDep, user_id: str, action: str
) -> Response:
    if action not in ("disable", "enable"):
        raise Invalid.at(["action"], f"unknown action {action!r}")
    users.update_user(session, visitor.principal, user_id, UserUpdate(disabled=action == "disable"))
    return see_other(str(request.headers.get("referer") or "/users"))


# --------------------------------------------------------------------------- audit log


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    entries = audit.list_entries(session, visitor.principal)
    tenants = {t.id: t.name for t in inventory.list_tenants(session, visitor.principal)}
    return render(request, "audit.html", entries=entries, tenants=tenants)


__all__ = ["FieldError", "catalog", "principal_of", "router"]
