"""SOL005 NS Lifecycle Management (/nslcm/v1): thin routes over lcm.service and lcm.sol005.

Every LCM operation (instantiate, update, heal, terminate) answers 202 with `Location`: its
`ns_lcm_op_occs` resource; the operation is committed before the worker is woken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.orm import Session

from cloudcpe.api.deps import PageSizeDep, PrincipalDep, SessionDep, WorkerDep
from cloudcpe.api.sol005.common import API, LIST_ROUTE, base_url, sol005_router
from cloudcpe.api.sol005.query import ListQuery, Resource, list_page
from cloudcpe.errors import Invalid
from cloudcpe.lcm import service as lcm
from cloudcpe.lcm import sol005
from cloudcpe.lcm.engine import Worker
from cloudcpe.lcm.models import LcmOperation, NsInstance
from cloudcpe.lcm.sol005 import (
    CancelMode,
    CreateNsRequest,
    HealNsRequest,
    InstantiateNsRequest,
    NsInstanceInfo,
    NsLcmOpOcc,
    TerminateNsRequest,
    UpdateNsRequest,
)

NSLCM = API["nslcm"]
router = sol005_router(NSLCM, json_only=True)
NS_INSTANCE = Resource("NsInstance", NsInstanceInfo, sol005.ns_attributes, ("vnfInstance",))
OP_OCC = Resource("NsLcmOpOcc", NsLcmOpOcc, sol005.op_attributes, ("operationParams", "error"))
NsQuery = Annotated[ListQuery, Depends(NS_INSTANCE.query)]
OpQuery = Annotated[ListQuery, Depends(OP_OCC.query)]


def _json(model: NsInstanceInfo | NsLcmOpOcc, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json", exclude_none=True), status, headers=headers)


def _ns(request: Request, session: Session, ns: NsInstance) -> NsInstanceInfo:
    return sol005.present_ns_instances(session, [ns], base_url(request))[0]


def _accepted(
    request: Request, session: Session, op: LcmOperation, worker: Worker | None
) -> Response:
    """The operation is durable before the worker hears of it: commit, then wake it."""
    session.commit()
    if worker is not None:
        worker.wake()
    location = f"{base_url(request)}{NSLCM.prefix}/ns_lcm_op_occs/{op.id}"
    return Response(status_code=202, headers={"Location": location})


# ------------------------------------------------------------------ NS instances


@router.get("/ns_instances", **LIST_ROUTE)
def list_ns_instances(
    request: Request, q: NsQuery, session: SessionDep, who: PrincipalDep, page: PageSizeDep
) -> Response:
    base = base_url(request)

    def render(rows: Sequence[Row[NsInstance]]) -> list[dict[str, Any]]:
        infos = sol005.present_ns_instances(session, [r[0] for r in rows], base)
        return [i.model_dump(mode="json", exclude_none=True) for i in infos]

    order = (NsInstance.created_at, NsInstance.id)
    stmt = sol005.visible_ns_stmt(who)
    return list_page(session, stmt, q, NS_INSTANCE, render, order=order, page_size=page).response(
        request
    )


@router.post("/ns_instances", status_code=201)
def create_ns_instance(
    request: Request, data: CreateNsRequest, session: SessionDep, who: PrincipalDep
) -> Response:
    """From an ONBOARDED and ENABLED NSD; the site: `additionalParams.siteId` (extension)."""
    info = _ns(request, session, sol005.create(session, who, data))
    return _json(info, 201, Location=info.links.self.href)


@router.get("/ns_instances/{nsInstanceId}")
def get_ns_instance(
    request: Request, nsInstanceId: str, session: SessionDep, who: PrincipalDep
) -> Response:
    return _json(_ns(request, session, lcm.get_ns_instance(session, who, nsInstanceId)))


@router.delete("/ns_instances/{nsInstanceId}", status_code=204)
def delete_ns_instance(nsInstanceId: str, session: SessionDep, who: PrincipalDep) -> Response:
    """Only a NOT_INSTANTIATED NS instance with no open operation (409 otherwise)."""
    lcm.delete_ns_instance(session, who, nsInstanceId)
    return Response(status_code=204)


@router.post("/ns_instances/{nsInstanceId}/instantiate", status_code=202)
def instantiate_ns(
    request: Request,
    nsInstanceId: str,
    data: InstantiateNsRequest,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> Response:
    return _accepted(request, session, lcm.instantiate(session, who, nsInstanceId), worker)


@router.post("/ns_instances/{nsInstanceId}/update", status_code=202)
def update_ns(
    request: Request,
    nsInstanceId: str,
    data: UpdateNsRequest,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> Response:
    """MODIFY_VNF_INFORMATION: `vnfConfigurableProperties` of VNF instances (e.g. rules)."""
    return _accepted(request, session, sol005.update(session, who, nsInstanceId, data), worker)


@router.post("/ns_instances/{nsInstanceId}/heal", status_code=202)
def heal_ns(
    request: Request,
    nsInstanceId: str,
    data: HealNsRequest,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> Response:
    """Re-renders and re-applies every function: re-creates whatever of it is missing."""
    return _accepted(request, session, lcm.heal(session, who, nsInstanceId), worker)


@router.post("/ns_instances/{nsInstanceId}/scale", status_code=202)
def scale_ns(nsInstanceId: str, session: SessionDep, who: PrincipalDep) -> Response:
    """Not supported: 400 saying so (404 for an NS instance the caller cannot see)."""
    lcm.get_ns_instance(session, who, nsInstanceId)
    raise Invalid.at(
        ["scaleType"],
        "scaling an NS instance is not supported: cloudcpe's functions run one instance each",
    )


@router.post("/ns_instances/{nsInstanceId}/terminate", status_code=202)
def terminate_ns(
    request: Request,
    nsInstanceId: str,
    data: TerminateNsRequest,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> Response:
    """Immediately (`terminationTime` is not supported: a given one answers 400)."""
    if data.termination_time is not None:
        raise Invalid.at(["terminationTime"], "scheduled termination is not supported")
    return _accepted(request, session, lcm.terminate(session, who, nsInstanceId), worker)


# ------------------------------------------------------------------ operation occurrences


@router.get("/ns_lcm_op_occs", **LIST_ROUTE)
def list_ns_lcm_op_occs(
    request: Request, q: OpQuery, session: SessionDep, who: PrincipalDep, page: PageSizeDep
) -> Response:
    base = base_url(request)

    def render(rows: Sequence[Row[LcmOperation]]) -> list[dict[str, Any]]:
        return [
            sol005.present_op(r[0], base).model_dump(mode="json", exclude_none=True) for r in rows
        ]

    order = (LcmOperation.created_at, LcmOperation.id)
    stmt = sol005.visible_op_stmt(who)
    return list_page(session, stmt, q, OP_OCC, render, order=order, page_size=page).response(
        request
    )


@router.get("/ns_lcm_op_occs/{nsLcmOpOccId}")
def get_ns_lcm_op_occ(
    request: Request, nsLcmOpOccId: str, session: SessionDep, who: PrincipalDep
) -> Response:
    op = lcm.get_operation(session, who, nsLcmOpOccId)
    return _json(sol005.present_op(op, base_url(request)))


@router.post("/ns_lcm_op_occs/{nsLcmOpOccId}/retry", status_code=202)
def retry_op(
    request: Request, nsLcmOpOccId: str, session: SessionDep, who: PrincipalDep, worker: WorkerDep
) -> Response:
    """FAILED_TEMP -> PROCESSING: resumes at the failed step (409 from any other state)."""
    return _accepted(request, session, lcm.retry(session, who, nsLcmOpOccId), worker)


@router.post("/ns_lcm_op_occs/{nsLcmOpOccId}/rollback", status_code=202)
def rollback_op(
    request: Request, nsLcmOpOccId: str, session: SessionDep, who: PrincipalDep, worker: WorkerDep
) -> Response:
    """FAILED_TEMP -> ROLLING_BACK -> ROLLED_BACK (409 for TERMINATE and HEAL, which retry or
    fail resolve, and from any other state)."""
    return _accepted(request, session, lcm.rollback(session, who, nsLcmOpOccId), worker)


@router.post("/ns_lcm_op_occs/{nsLcmOpOccId}/continue", status_code=202)
def continue_op(nsLcmOpOccId: str, session: SessionDep, who: PrincipalDep) -> Response:
    """Always 409: cloudcpe never skips a failed step, and no operation waits to be
    continued; retry, rollback or fail resolve a FAILED_TEMP operation."""
    lcm.continue_(session, who, nsLcmOpOccId)
    return Response(status_code=202)  # pragma: no cover - continue_ always refuses


@router.post("/ns_lcm_op_occs/{nsLcmOpOccId}/fail")
def fail_op(
    request: Request, nsLcmOpOccId: str, session: SessionDep, who: PrincipalDep
) -> Response:
    """FAILED_TEMP -> FAILED; answers the operation (200)."""
    op = lcm.fail(session, who, nsLcmOpOccId)
    session.commit()
    return _json(sol005.present_op(op, base_url(request)))


@router.post("/ns_lcm_op_occs/{nsLcmOpOccId}/cancel", status_code=202)
def cancel_op(
    request: Request,
    nsLcmOpOccId: str,
    data: CancelMode,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> Response:
    """A PROCESSING or ROLLING_BACK operation: `isCancelPending` until the worker reaches
    the next step boundary, where it stops (FAILED_TEMP). 409 from any other state."""
    op = lcm.cancel(session, who, nsLcmOpOccId, data.cancel_mode)
    return _accepted(request, session, op, worker)
