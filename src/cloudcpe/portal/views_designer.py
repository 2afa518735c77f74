"""The Network Service Designer: a page (designer.js) and its JSON calls, which use the
catalog's own validation, saved versions and publishing.

SOL001: `/designer/{id}/export.yaml` downloads a saved version as an SOL001 NSD YAML;
`/designer/import` (a form upload) saves an SOL001 NSD YAML as a new version, its refusal
shown next to the file field.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from cloudcpe.api.deps import SessionDep
from cloudcpe.catalog import designs
from cloudcpe.catalog import service as catalog
from cloudcpe.errors import DomainError, FieldError, Invalid
from cloudcpe.portal.web import FormDep, VisitorDep, WriterDep, render, see_other

router = APIRouter(prefix="/designer", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def designer(
    request: Request, session: SessionDep, visitor: VisitorDep, design: str = ""
) -> Response:
    return _page(request, session, visitor, design)


def _page(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    design: str = "",
    status_code: int = 200,
    import_error: str | None = None,
) -> Response:
    who = visitor.principal
    saved = designs.list_designs(session, who)
    current = designs.get_design(session, who, design) if design else None
    start: dict[str, Any] = (
        {"name": current.name, "description": current.description, "chain": current.chain}
        if current
        else {"name": "", "description": "", "chain": []}
    )
    return render(
        request,
        "designer/designer.html",
        status_code=status_code,
        import_error=import_error,
        designs=saved,
        current=current,
        functions_json=_script_json(catalog.list_functions()),
        start_json=_script_json(start),
        may_save=who.can("manage_tenant"),
    )


def _script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no closing tag can be formed."""
    return json.dumps(value).replace("<", "\\u003c")


def _problems(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"name": e.path(), "reason": e.msg} for e in errors]


async def _body(request: Request) -> designs.DesignSave | list[dict[str, str]]:
    try:
        return designs.DesignSave.model_validate(await request.json())
    except ValidationError as exc:
        return _problems(
            [FieldError(["body", *[str(p) for p in e["loc"]]], e["msg"]) for e in exc.errors()]
        )
    except ValueError:
        return [{"name": "body", "reason": "not JSON"}]


@router.post("/validate")
async def validate(request: Request, visitor: WriterDep) -> JSONResponse:
    data = await _body(request)
    problems = data if isinstance(data, list) else _problems(designs.validate_design(data))
    return JSONResponse({"valid": not problems, "invalid_params": problems})


@router.post("/save")
async def save(request: Request, session: SessionDep, visitor: WriterDep) -> JSONResponse:
    data = await _body(request)
    if isinstance(data, list):
        return JSONResponse({"valid": False, "invalid_params": data}, status_code=422)
    try:
        saved = designs.save_design(session, visitor.principal, data)
    except Invalid as exc:
        return JSONResponse(
            {"valid": False, "invalid_params": _problems(exc.errors)}, status_code=422
        )
    except DomainError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    return JSONResponse({"id": saved.id, "name": saved.name, "version": saved.version})


@router.post("/{design_id}/publish")
def publish(session: SessionDep, visitor: WriterDep, design_id: str) -> JSONResponse:
    try:
        nsd = designs.publish_design(session, visitor.principal, design_id)
    except Invalid as exc:
        return JSONResponse({"invalid_params": _problems(exc.errors)}, status_code=422)
    except DomainError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    return JSONResponse({"nsd_id": nsd.id, "name": nsd.name, "version": nsd.version})


@router.get("/{design_id}/export.yaml")
def export(session: SessionDep, visitor: VisitorDep, design_id: str) -> Response:
    design = designs.get_design(session, visitor.principal, design_id)
    return Response(
        designs.export_nsd(design),
        media_type="application/yaml",
        headers={
            "Content-Disposition": f'attachment; filename="{design.name}-v{design.version}.yaml"'
        },
    )


@router.post("/import")
async def import_nsd(
    request: Request, session: SessionDep, visitor: WriterDep, form: FormDep
) -> Response:
    upload = form.get("nsd")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    try:
        saved = designs.import_nsd(session, visitor.principal, data, ["nsd"])
    except Invalid as exc:
        return _page(request, session, visitor, status_code=422, import_error=exc.errors[0].msg)
    return see_other(f"/designer?design={saved.id}")
