"""What every portal page needs: the logged-in user from the session cookie, CSRF checks,
templates, and turning domain errors into pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from cloudcpe.api.deps import SessionDep, client_address, request_label
from cloudcpe.auth.audit import Actor, attach
from cloudcpe.auth.models import User, WebSession
from cloudcpe.auth.principal import Principal
from cloudcpe.auth.service import principal_of
from cloudcpe.auth.sessions import csrf_ok, resolve_session
from cloudcpe.errors import DomainError, FieldError, Forbidden, Invalid

COOKIE = "ccpe_session"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


class LoginRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


@dataclass
class Visitor:
    """The logged-in user. Plain values are copied out so that an error page can still be
    rendered after the request's database session has been rolled back and closed."""

    user: User
    principal: Principal
    web_session: WebSession
    name: str = ""
    user_id: str = ""
    csrf: str = ""

    def __post_init__(self) -> None:
        self.name = self.user.name
        self.user_id = self.user.id
        self.csrf = self.web_session.csrf_token


def _visitor(request: Request, session: SessionDep) -> Visitor:
    request.state.portal = True
    secret = request.cookies.get(COOKIE)
    found = resolve_session(session, secret) if secret else None
    if found is None:
        raise LoginRequired()
    user, row = found
    principal = principal_of(user)
    attach(session, Actor(principal, client_address(request), request_label(request)))
    request.state.visitor = Visitor(user, principal, row)
    return request.state.visitor  # type: ignore[no-any-return]


VisitorDep = Annotated[Visitor, Depends(_visitor)]


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _checked(request: Request, visitor: VisitorDep, form: FormDep) -> Visitor:
    """Every state-changing portal request carries the session's CSRF token (form field
    `csrf` or header X-CSRF-Token)."""
    presented = request.headers.get("x-csrf-token") or form.get("csrf")
    if not csrf_ok(visitor.csrf, presented if isinstance(presented, str) else None):
        raise CsrfRejected()
    return visitor


WriterDep = Annotated[Visitor, Depends(_checked)]


def require_operator_pages(visitor: Visitor) -> None:
    if not visitor.principal.is_operator:
        raise Forbidden("the Administration Portal is for operators")


def require_tenant_pages(visitor: Visitor) -> None:
    if visitor.principal.is_operator:
        raise Forbidden("the Customer Portal is for tenants' users")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    return templates.TemplateResponse(
        request,
        template,
        {"visitor": visitor, "who": visitor.principal if visitor else None, **context},
        status_code=status_code,
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def field_errors(exc: Invalid, strip: int = 1) -> dict[str, str]:
    """{"lan_prefix": "...", "rules[0].src": "..."}: the API's locations without `body`."""
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(FieldError(e.loc[strip:], e.msg).path() or "_", e.msg)
    return out


def error_page(request: Request, exc: DomainError) -> Response:
    return render(request, "error.html", status_code=exc.status, title=exc.title, detail=exc.detail)


def install_handlers(app: Any) -> None:
    async def login_required(request: Request, _: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see_other(f"/login?next={quote(target)}")

    async def csrf_rejected(request: Request, _: Exception) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title="Forbidden",
            detail="the form was stale or forged (CSRF check failed); reload the page",
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.state.html_error = error_page
