"""NS instance services: create, read, delete, and request LCM operations.

Requests only record a durable `LcmOperation` (PROCESSING); a worker runs it.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.catalog.service import get_descriptor, require_usable, validate_params
from cloudcpe.errors import Conflict, FieldError, Invalid, NotFound
from cloudcpe.inventory.models import NfviHost
from cloudcpe.inventory.pops import get_compute_node
from cloudcpe.inventory.service import get_device, get_site
from cloudcpe.lcm import notifications
from cloudcpe.lcm.models import HostDocument, LcmOperation, NsInstance, VnfInstance
from cloudcpe.lcm.schemas import OPEN_STATES, NsInstanceCreate, NsInstancePublic, UpdateRequest
from cloudcpe.nfvi.model import redact
from cloudcpe.placement.service import choose_host
from cloudcpe.store.base import utcnow


def effective_chain(
    nsd: NsDescriptor, overrides: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The descriptor's chain with the instance's parameter overrides merged in."""
    return [
        {**el, "params": {**el.get("params", {}), **overrides.get(el["name"], {})}}
        for el in nsd.chain
    ]


def _customer_errors(
    who: Principal, nsd: NsDescriptor, overrides: dict[str, dict[str, Any]]
) -> list[FieldError]:
    """A tenant may set only the parameters the descriptor marks as customer-settable
    (when it marks any: descriptors that mark none leave every parameter open)."""
    marked = {el["name"]: set(el.get("customer_params") or ()) for el in nsd.chain}
    if who.is_operator or not any(marked.values()):
        return []
    return [
        FieldError(["body", "vnf_params", name, param], "not a parameter customers may set")
        for name, params in overrides.items()
        if name in marked
        for param in params
        if param not in marked[name]
    ]


def _check_overrides(
    nsd: NsDescriptor, overrides: dict[str, dict[str, Any]], who: Principal | None = None
) -> None:
    names = {el["name"] for el in nsd.chain}
    errors = [
        FieldError(
            ["body", "vnf_params", name],
            f"the chain has no function {name!r}; it has {sorted(names)}",
        )
        for name in overrides
        if name not in names
    ]
    for el in effective_chain(nsd, overrides):
        if el["name"] in overrides:
            errors += validate_params(
                el["function"], el["params"], ["body", "vnf_params", el["name"]]
            )
    if who is not None:
        errors += _customer_errors(who, nsd, overrides)
    if errors:
        raise Invalid(errors)


def create_ns_instance(session: Session, who: Principal, data: NsInstanceCreate) -> NsInstance:
    who.require("order", "ordering a service")
    try:
        site = get_site(session, who, data.site_id)
    except NotFound:
        raise Invalid.at(["body", "site_id"], "no such site") from None
    try:
        nsd = get_descriptor(session, who, data.nsd_id)
    except NotFound:
        raise Invalid.at(["body", "nsd_id"], "no such NS descriptor") from None
    if nsd.tenant_id not in (None, site.tenant_id):
        raise Invalid.at(["body", "nsd_id"], "descriptor belongs to another tenant")
    require_usable(nsd)
    _check_overrides(nsd, data.vnf_params, who)
    ns = NsInstance(
        tenant_id=site.tenant_id,
        site_id=site.id,
        nsd_id=nsd.id,
        name=data.name,
        description=data.description,
        key=secrets.token_hex(3),
        vnf_params=data.vnf_params,
    )
    session.add(ns)
    session.flush()
    _located(lambda: choose_host(session, site, len(nsd.chain), ns.id), "body")
    notifications.ns_identifier(session, ns, created=True)
    return ns


def _located(check: Any, where: str) -> Any:
    """Re-root a domain Invalid raised deeper down at the request part it came from."""
    try:
        return check()
    except Invalid as exc:
        raise Invalid([FieldError([where, *e.loc], e.msg) for e in exc.errors]) from None


def list_ns_instances(session: Session, who: Principal) -> list[NsInstance]:
    stmt = who.scoped(select(NsInstance).order_by(NsInstance.created_at), NsInstance.tenant_id)
    return list(session.scalars(stmt))


def get_ns_instance(session: Session, who: Principal, ns_id: str) -> NsInstance:
    ns = session.get(NsInstance, ns_id)
    if ns is None or not who.can_see(ns.tenant_id):
        raise NotFound("NS instance", ns_id)
    return ns


def vnf_instances(session: Session, ns: NsInstance) -> list[VnfInstance]:
    stmt = select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id)
    return list(session.scalars(stmt.order_by(VnfInstance.position)))


def present(session: Session, ns: NsInstance) -> NsInstancePublic:
    return NsInstancePublic.model_validate(
        {
            **{c: getattr(ns, c) for c in NsInstancePublic.model_fields if c != "vnf_instances"},
            "vnf_instances": vnf_instances(session, ns),
        },
        from_attributes=True,
    )


def delete_ns_instance(session: Session, who: Principal, ns_id: str) -> None:
    ns = get_ns_instance(session, who, ns_id)
    who.require("order", "deleting a service")
    if ns.ns_state != "NOT_INSTANTIATED" or _open_operation(session, ns):
        raise Conflict("only a NOT_INSTANTIATED NS instance with no open operation can be deleted")
    notifications.ns_identifier(session, ns, created=False)
    session.delete(ns)


def _open_operation(session: Session, ns: NsInstance) -> LcmOperation | None:
    return session.scalar(
        select(LcmOperation).where(
            LcmOperation.ns_instance_id == ns.id, LcmOperation.operation_state.in_(OPEN_STATES)
        )
    )


def _new_operation(
    session: Session, ns: NsInstance, operation: str, params: dict[str, Any]
) -> LcmOperation:
    busy = _open_operation(session, ns)
    if busy is not None:
        raise Conflict(
            f"NS instance has an open {busy.operation} operation {busy.id} "
            f"({busy.operation_state}); retry, roll back or fail it first"
        )
    op = LcmOperation(
        tenant_id=ns.tenant_id,
        ns_instance_id=ns.id,
        operation=operation,
        operation_state="PROCESSING",
        operation_params=params,
    )
    session.add(op)
    session.flush()
    notifications.operation(session, op)
    return op


def instantiate(session: Session, who: Principal, ns_id: str) -> LcmOperation:
    ns = get_ns_instance(session, who, ns_id)
    who.require("order", "instantiating a service")
    if ns.ns_state != "NOT_INSTANTIATED":
        raise Conflict(f"NS instance is {ns.ns_state}")
    nsd = session.get_one(NsDescriptor, ns.nsd_id)
    site = get_site(session, who, ns.site_id)
    _located(lambda: choose_host(session, site, len(nsd.chain), ns.id), "body")
    return _new_operation(session, ns, "INSTANTIATE", {})


def terminate(session: Session, who: Principal, ns_id: str) -> LcmOperation:
    ns = get_ns_instance(session, who, ns_id)
    who.require("order", "terminating a service")
    if ns.ns_state != "INSTANTIATED":
        raise Conflict(f"NS instance is {ns.ns_state}")
    return _new_operation(session, ns, "TERMINATE", {})


def update(session: Session, who: Principal, ns_id: str, data: UpdateRequest) -> LcmOperation:
    ns = get_ns_instance(session, who, ns_id)
    who.require("order", "updating a service")
    if ns.ns_state != "INSTANTIATED":
        raise Conflict(f"NS instance is {ns.ns_state}")
    nsd = session.get_one(NsDescriptor, ns.nsd_id)
    _check_overrides(nsd, data.vnf_params, who)
    return _new_operation(session, ns, "UPDATE", {"vnf_params": data.vnf_params})


def heal(session: Session, who: Principal, ns_id: str) -> LcmOperation:
    """Re-render and re-apply every function of the service (re-creating what is missing)."""
    ns = get_ns_instance(session, who, ns_id)
    who.require("order", "healing a service")
    if ns.ns_state != "INSTANTIATED":
        raise Conflict(f"NS instance is {ns.ns_state}; only an INSTANTIATED one can be healed")
    return _new_operation(session, ns, "HEAL", {})


def list_operations(
    session: Session, who: Principal, ns_id: str | None = None
) -> list[LcmOperation]:
    stmt = who.scoped(select(LcmOperation), LcmOperation.tenant_id)
    if ns_id:
        stmt = stmt.where(LcmOperation.ns_instance_id == ns_id)
    return list(session.scalars(stmt.order_by(LcmOperation.start_time)))


def get_operation(session: Session, who: Principal, op_id: str) -> LcmOperation:
    op = session.get(LcmOperation, op_id)
    if op is None or not who.can_see(op.tenant_id):
        raise NotFound("LCM operation", op_id)
    return op


def _transition(op: LcmOperation, allowed_from: str, to: str, action: str) -> LcmOperation:
    if op.operation_state != allowed_from:
        raise Conflict(
            f"cannot {action} an operation in state {op.operation_state}; only from {allowed_from}"
        )
    op.operation_state = to
    op.state_entered_time = utcnow()
    op.lease_owner = None
    op.lease_expires_at = None
    return op


def retry(session: Session, who: Principal, op_id: str) -> LcmOperation:
    who.require("order", "retrying an operation")
    op = _transition(get_operation(session, who, op_id), "FAILED_TEMP", "PROCESSING", "retry")
    op.error = None
    notifications.operation(session, op)
    return op


def rollback(session: Session, who: Principal, op_id: str) -> LcmOperation:
    op = get_operation(session, who, op_id)
    who.require("order", "rolling back an operation")
    if op.operation in ("TERMINATE", "HEAL"):
        raise Conflict(f"a {op.operation} cannot be rolled back; retry or fail it instead")
    _transition(op, "FAILED_TEMP", "ROLLING_BACK", "roll back")
    notifications.operation(session, op)
    return op


def fail(session: Session, who: Principal, op_id: str) -> LcmOperation:
    who.require("order", "failing an operation")
    op = _transition(get_operation(session, who, op_id), "FAILED_TEMP", "FAILED", "fail")
    notifications.operation(session, op)
    return op


def cancel(session: Session, who: Principal, op_id: str, mode: str) -> LcmOperation:
    """SOL005 cancel of a PROCESSING or ROLLING_BACK operation: marks it cancel-pending; the
    worker stops at the next step boundary and the operation ends FAILED_TEMP (from which
    retry, rollback or fail resolve it). Cancelling an operation in any other state, or one
    already being cancelled, is a conflict."""
    op = get_operation(session, who, op_id)
    who.require("order", "cancelling an operation")
    if op.operation_state not in ("PROCESSING", "ROLLING_BACK"):
        raise Conflict(
            f"cannot cancel an operation in state {op.operation_state}; "
            "only a PROCESSING or ROLLING_BACK one"
        )
    if op.is_cancel_pending:
        raise Conflict("the operation is already being cancelled")
    op.is_cancel_pending = True
    op.cancel_mode = mode
    return op


def continue_(session: Session, who: Principal, op_id: str) -> LcmOperation:
    """SOL005 continue: cloudcpe never continues past a failed step (the service would not
    be the one requested) and no operation ever waits to be continued: always a conflict
    that names what does apply."""
    op = get_operation(session, who, op_id)
    who.require("order", "continuing an operation")
    raise Conflict(
        f"continue is not supported: cloudcpe never skips a failed step and no operation waits "
        f"to be continued (this one is {op.operation_state}); use retry, rollback or fail on a "
        "FAILED_TEMP operation"
    )


def host_state(session: Session, who: Principal, device_id: str) -> dict[str, Any]:
    """A device's desired state document (versioned, secrets redacted) and what the host
    last reported."""
    device = get_device(session, who, device_id)
    return {"device_id": device.id, **_state_of(session, device)}


def compute_node_state(session: Session, who: Principal, node_id: str) -> dict[str, Any]:
    node = get_compute_node(session, who, node_id)
    return {"compute_node_id": node.id, **_state_of(session, node)}


def _state_of(session: Session, host: NfviHost) -> dict[str, Any]:
    doc = session.get(HostDocument, host.id)
    seen = {"management": host.management, "last_seen_at": host.last_seen_at}
    if doc is None:
        empty = {"desired": None, "observed": None, "observed_at": None, "telemetry": None}
        return {"version": 0, **empty, **seen}
    # the document holds the host's tunnel private keys: never shown, to anyone
    return {
        "version": doc.version,
        "desired": redact(doc.desired),
        "observed": doc.observed,
        "observed_at": doc.observed_at,
        "telemetry": doc.telemetry,
        **seen,
    }
