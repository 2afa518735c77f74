"""Every error answers application/problem+json (ETSI SOL005 ProblemDetails)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloudcpe.errors import DomainError, FieldError, Invalid

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _invalid(request: Request, exc: Invalid) -> JSONResponse:
    # SOL005 (SOL013) answers a request it cannot accept with 400; the product API with 422
    status = 400 if getattr(request.state, "sol005_api", None) else 422
    return problem(
        status,
        exc.title,
        exc.detail,
        invalid_params=[{"name": e.path(), "reason": e.msg} for e in exc.errors],
    )


def _page(request: Request, exc: Exception) -> Response | None:
    """Portal requests get an HTML page (the portal registers the renderer)."""
    renderer = getattr(request.app.state, "html_error", None)
    if renderer is not None and getattr(request.state, "portal", False):
        page: Response = renderer(request, exc)
        return page
    return None


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if (page := _page(request, exc)) is not None:
        return page
    if isinstance(exc, Invalid):
        return _invalid(request, exc)
    extra: dict[str, Any] = getattr(exc, "problem_extra", None) or {}
    return problem(exc.status, exc.title, exc.detail, **extra)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError([str(p) if not isinstance(p, int) else p for p in e["loc"]], e["msg"])
        for e in exc.errors()
    ]
    return _invalid(request, Invalid(errors))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if getattr(request.state, "portal", False) or _wants_html(request):
        renderer = getattr(request.app.state, "html_error", None)
        if renderer is not None:
            page: Response = renderer(request, DomainError.of(exc.status_code, str(exc.detail)))
            return page
    resp = problem(exc.status_code, "Error", str(exc.detail))
    for k, v in (exc.headers or {}).items():
        resp.headers[k] = v
    return resp


_MACHINE_PATHS = (
    "/api/",
    "/agent/",
    "/docs",
    "/openapi",
    "/nsd/",
    "/vnfpkgm/",
    "/nslcm/",
    "/nsfm/",
    "/nspm/",
)


def _wants_html(request: Request) -> bool:
    """A browser asking for a page that does not exist (not an API path)."""
    path = request.url.path
    return not path.startswith(_MACHINE_PATHS) and "text/html" in request.headers.get("accept", "")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # the server still logs the exception (Starlette re-raises it after this answer)
    return problem(500, "Internal error", "an unexpected error occurred; the server log has it")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http)
