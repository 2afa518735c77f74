"""LCM workflows as small named steps. Each step is resumable: a retry skips the steps an
operation has already finished, and re-running a step converges rather than duplicates."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.inventory.models import ComputeNode, NfviHost, Site
from cloudcpe.lcm import tunnels
from cloudcpe.lcm.hosts import HostGateway, descriptor_of, render_document
from cloudcpe.lcm.models import (
    HostDocument,
    LcmOperation,
    NsInstance,
    SiteTunnel,
    VnfInstance,
)
from cloudcpe.lcm.observed import record_observation
from cloudcpe.lcm.service import effective_chain
from cloudcpe.nfvi.model import HostDesiredState, ObservedState
from cloudcpe.placement.service import choose_host
from cloudcpe.store.db import SessionFactory, unit_of_work


class StepFailed(Exception):
    """A step could not complete; the operation goes to FAILED_TEMP with this reason."""


@dataclass
class StepContext:
    factory: SessionFactory
    hosts: HostGateway
    op_id: str

    def load(self, session: Session) -> tuple[LcmOperation, NsInstance]:
        op = session.get_one(LcmOperation, self.op_id)
        return op, session.get_one(NsInstance, op.ns_instance_id)


Step = Callable[[StepContext], None]


def _touch_hosts(op: LcmOperation, host_ids: list[str]) -> None:
    known = list(op.rollback_data.get("hosts", []))
    op.rollback_data = {**op.rollback_data, "hosts": sorted(set(known) | set(host_ids))}


def place(ctx: StepContext) -> None:
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        if s.scalar(select(VnfInstance.id).where(VnfInstance.ns_instance_id == ns.id)):
            return  # placed by an earlier attempt of this operation
        chain = effective_chain(descriptor_of(s, ns), ns.vnf_params)
        site = s.get_one(Site, ns.site_id)
        try:
            host = choose_host(s, site, len(chain), ns.id)
            touched = [host.id]
            if isinstance(host, ComputeNode):  # a cloud site: address and tunnel for it
                touched.append(tunnels.attach(s, ns, site, host).device_id)
        except Exception as exc:
            raise StepFailed(str(exc)) from exc
        for i, el in enumerate(chain):
            s.add(
                VnfInstance(
                    ns_instance_id=ns.id,
                    host_id=host.id,
                    position=i,
                    name=el["name"],
                    function=el["function"],
                    key=_unique_key(s, host),
                    params=el["params"],
                )
            )
        _touch_hosts(op, touched)


def _unique_key(s: Session, host: NfviHost) -> str:
    while True:
        key = secrets.token_hex(4)
        clash = select(VnfInstance.id).where(VnfInstance.host_id == host.id, VnfInstance.key == key)
        if not s.scalar(clash):
            return key


def release(ctx: StepContext) -> None:
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        vnfs = list(s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id)))
        _touch_hosts(op, [v.host_id for v in vnfs] + tunnels.detach(s, ns))
        for v in vnfs:
            s.delete(v)


def modify(ctx: StepContext) -> None:
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        new: dict[str, dict[str, Any]] = op.operation_params["vnf_params"]
        vnfs = {
            v.name: v
            for v in s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id))
        }
        if "previous" not in op.rollback_data:
            op.rollback_data = {**op.rollback_data, "previous": ns.vnf_params}
        ns.vnf_params = {**ns.vnf_params, **new}
        chain = {el["name"]: el for el in effective_chain(descriptor_of(s, ns), ns.vnf_params)}
        for name in new:
            vnfs[name].params = chain[name]["params"]
        _touch_hosts(op, sorted({v.host_id for v in vnfs.values()}))


def survey(ctx: StepContext) -> None:
    """HEAL: every host this service runs on (its functions, a cloud site's thin CPE) is
    rendered and converged again, which re-creates whatever of the service is missing there
    (a function whose namespace was deleted, a link, a ruleset)."""
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        vnfs = list(s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id)))
        if not vnfs:
            raise StepFailed("the NS instance has no functions to heal")
        tunnel = s.scalar(select(SiteTunnel).where(SiteTunnel.ns_instance_id == ns.id))
        extra = [tunnel.device_id] if tunnel is not None else []
        _touch_hosts(op, [v.host_id for v in vnfs] + extra)


def restore(ctx: StepContext) -> None:
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        if "previous" not in op.rollback_data:
            return
        ns.vnf_params = op.rollback_data["previous"]
        chain = {el["name"]: el for el in effective_chain(descriptor_of(s, ns), ns.vnf_params)}
        for v in s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id)):
            v.params = chain[v.name]["params"]


def render(ctx: StepContext) -> None:
    with unit_of_work(ctx.factory) as s:
        op, _ = ctx.load(s)
        for host_id in op.rollback_data.get("hosts", []):
            render_document(s, s.get_one(NfviHost, host_id))


def apply(ctx: StepContext) -> None:
    """Deliver each touched host's document and check this service's part on it.

    Compute nodes go first: a thin CPE starts its tunnel's handshake as soon as it is
    configured, and a first handshake the node cannot answer yet is only retried 5 s later.
    """
    with unit_of_work(ctx.factory) as s:
        op, ns = ctx.load(s)
        targets = [
            (s.get_one(NfviHost, h), s.get_one(HostDocument, h))
            for h in op.rollback_data.get("hosts", [])
        ]
        targets.sort(key=lambda t: not isinstance(t[0], ComputeNode))
        # what of this service a host runs: its functions, its site edge, the node's underlay
        names = {
            v.id: v.name
            for v in s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id == ns.id))
        }
        names[ns.id] = "site edge"
        names.update({h.id: "underlay" for h, _ in targets if isinstance(h, ComputeNode)})
    problems: list[str] = []
    for host, doc in targets:
        # no transaction is held while the host works
        observed = ctx.hosts.converge(host, HostDesiredState.model_validate(doc.desired))
        _record(ctx, host, observed)
        problems += [f"host {host.name!r}: {e}" for e in observed.errors]
        problems += [
            f"function {names[f.owner]!r} on host {host.name!r} is {f.state}: "
            f"{f.reason or 'no reason given'}"
            for f in observed.failures_of(set(names))
        ]
    if problems:
        raise StepFailed("; ".join(problems))


def _record(ctx: StepContext, host: NfviHost, observed: ObservedState) -> None:
    if host.management == "agent":
        return  # its agent's own report is the record (ordered by the agent's clock)
    with unit_of_work(ctx.factory) as s:
        record_observation(s, host.id, observed)


@dataclass(frozen=True)
class Workflow:
    steps: list[tuple[str, Step]]
    final_state: str
    ns_state_after: str | None = None  # the NS state once the workflow completes


FORWARD: dict[str, Workflow] = {
    "INSTANTIATE": Workflow(
        [("place", place), ("render", render), ("apply", apply)], "COMPLETED", "INSTANTIATED"
    ),
    "UPDATE": Workflow([("modify", modify), ("render", render), ("apply", apply)], "COMPLETED"),
    "HEAL": Workflow([("survey", survey), ("render", render), ("apply", apply)], "COMPLETED"),
    "TERMINATE": Workflow(
        [("release", release), ("render", render), ("apply", apply)],
        "COMPLETED",
        "NOT_INSTANTIATED",
    ),
}
ROLLBACK: dict[str, Workflow] = {
    "INSTANTIATE": Workflow(
        [("release", release), ("render", render), ("apply", apply)],
        "ROLLED_BACK",
        "NOT_INSTANTIATED",
    ),
    "UPDATE": Workflow([("restore", restore), ("render", render), ("apply", apply)], "ROLLED_BACK"),
}


def workflow_of(op: LcmOperation) -> tuple[Workflow, str]:
    """The workflow an operation runs now, and the prefix its finished steps are recorded with."""
    if op.operation_state == "ROLLING_BACK":
        return ROLLBACK[op.operation], "rollback:"
    return FORWARD[op.operation], ""
