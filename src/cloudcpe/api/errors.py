"""Every error answers application/problem+json (ETSI SOL005 ProblemDetails)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
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


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    resp = problem(exc.status_code, "Error", str(exc.detail))
    for k, v in (exc.headers or {}).items():
        resp.headers[k] = v
    return resp


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # the server still logs the exception (Starlette re-raises it after this answer)
    return problem(500, "Internal error", "an unexpected error occurred; the server log has it")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http)
