"""NS instances and their LCM operations. Operations answer 202 + Location."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from cloudcpe.api.deps import PrincipalDep, SessionDep, WorkerDep
from cloudcpe.lcm import service as lcm
from cloudcpe.lcm.engine import Worker
from cloudcpe.lcm.models import LcmOperation
from cloudcpe.lcm.schemas import (
    LcmOperationPublic,
    NsInstanceCreate,
    NsInstancePublic,
    UpdateRequest,
)

router = APIRouter(tags=["ns lifecycle"])


def _accepted(
    response: Response, session: Session, op: LcmOperation, worker: Worker | None
) -> LcmOperationPublic:
    """The operation is durable before the worker hears of it: commit, then wake it."""
    session.commit()
    if worker is not None:
        worker.wake()
    response.headers["Location"] = f"/api/v1/ns_lcm_op_occs/{op.id}"
    return LcmOperationPublic.model_validate(op)


def _op_route(path: str, action: Callable[..., LcmOperation]) -> None:
    @router.post(
        path,
        status_code=202,
        response_model=LcmOperationPublic,
        name=action.__name__,
        summary=f"{action.__name__.replace('_', ' ')}",
    )
    def endpoint(
        ns_id: str, response: Response, session: SessionDep, who: PrincipalDep, worker: WorkerDep
    ) -> object:
        return _accepted(response, session, action(session, who, ns_id), worker)


@router.get("/ns_instances", response_model=list[NsInstancePublic])
def list_ns_instances(session: SessionDep, who: PrincipalDep) -> object:
    return [lcm.present(session, ns) for ns in lcm.list_ns_instances(session, who)]


@router.post("/ns_instances", response_model=NsInstancePublic, status_code=201)
def create_ns_instance(
    data: NsInstanceCreate, response: Response, session: SessionDep, who: PrincipalDep
) -> object:
    ns = lcm.create_ns_instance(session, who, data)
    response.headers["Location"] = f"/api/v1/ns_instances/{ns.id}"
    return lcm.present(session, ns)


@router.get("/ns_instances/{ns_id}", response_model=NsInstancePublic)
def get_ns_instance(ns_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return lcm.present(session, lcm.get_ns_instance(session, who, ns_id))


@router.delete("/ns_instances/{ns_id}", status_code=204)
def delete_ns_instance(ns_id: str, session: SessionDep, who: PrincipalDep) -> Response:
    lcm.delete_ns_instance(session, who, ns_id)
    return Response(status_code=204)


_op_route("/ns_instances/{ns_id}/instantiate", lcm.instantiate)
_op_route("/ns_instances/{ns_id}/terminate", lcm.terminate)


@router.post("/ns_instances/{ns_id}/update", status_code=202, response_model=LcmOperationPublic)
def update_ns_instance(
    ns_id: str,
    data: UpdateRequest,
    response: Response,
    session: SessionDep,
    who: PrincipalDep,
    worker: WorkerDep,
) -> object:
    return _accepted(response, session, lcm.update(session, who, ns_id, data), worker)


@router.get("/ns_lcm_op_occs", response_model=list[LcmOperationPublic])
def list_operations(
    session: SessionDep, who: PrincipalDep, ns_instance_id: str | None = None
) -> object:
    return lcm.list_operations(session, who, ns_instance_id)


@router.get("/ns_lcm_op_occs/{op_id}", response_model=LcmOperationPublic)
def get_operation(op_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return lcm.get_operation(session, who, op_id)


def _task_route(path: str, action: Callable[..., LcmOperation]) -> None:
    @router.post(
        path,
        status_code=202,
        response_model=LcmOperationPublic,
        name=f"{action.__name__}_operation",
        summary=f"{action.__name__} an operation",
    )
    def endpoint(
        op_id: str, response: Response, session: SessionDep, who: PrincipalDep, worker: WorkerDep
    ) -> object:
        return _accepted(response, session, action(session, who, op_id), worker)


_task_route("/ns_lcm_op_occs/{op_id}/retry", lcm.retry)
_task_route("/ns_lcm_op_occs/{op_id}/rollback", lcm.rollback)
_task_route("/ns_lcm_op_occs/{op_id}/fail", lcm.fail)


@router.get("/devices/{device_id}/state", tags=["inventory"])
def get_device_state(device_id: str, session: SessionDep, who: PrincipalDep) -> object:
    """The device's versioned desired state document (private keys redacted) and the host's
    last observed state."""
    return lcm.host_state(session, who, device_id)
