"""What the pages show, gathered through the domain services with the visitor's principal:
sites with their device and services, statuses, and operation histories."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.auth.service import aware
from cloudcpe.catalog import service as catalog
from cloudcpe.inventory import service as inventory
from cloudcpe.inventory.models import Device, Site
from cloudcpe.lcm import service as lcm
from cloudcpe.lcm.models import HostDocument, LcmOperation, NsInstance, VnfInstance
from cloudcpe.nfvi.model import HostTelemetry

STEPS = 3  # every workflow has three steps (place/modify/..., render, apply)


@dataclass
class ServiceView:
    ns: NsInstance
    status: str  # up | working | failed | down
    functions: list[dict[str, Any]]
    last_op: LcmOperation | None


@dataclass
class DeviceView:
    device: Device
    status: str  # in-sync | syncing | degraded | idle
    detail: str


@dataclass
class SiteView:
    site: Site
    tenant_name: str
    device: DeviceView | None
    services: list[ServiceView] = field(default_factory=list)

    @property
    def status(self) -> str:
        states = {s.status for s in self.services}
        for worst in ("failed", "working", "up"):
            if worst in states:
                return worst
        return "down" if self.services else "empty"


def service_status(ns: NsInstance, last: LcmOperation | None) -> str:
    if last is not None and last.operation_state in ("PROCESSING", "ROLLING_BACK"):
        return "working"
    if last is not None and last.operation_state in ("FAILED_TEMP", "FAILED"):
        return "failed"
    return "up" if ns.ns_state == "INSTANTIATED" else "down"


def device_view(session: Session, who: Principal, device: Device) -> DeviceView:
    state = lcm.host_state(session, who, device.id)
    observed = state["observed"]
    if observed is None:
        return DeviceView(device, "idle", "no desired state delivered yet")
    failed = [f for f in observed.get("functions", []) if f.get("state") != "running"]
    if observed.get("errors") or failed:
        reasons = observed.get("errors", []) + [str(f.get("reason")) for f in failed]
        return DeviceView(device, "degraded", "; ".join(reasons)[:300])
    if observed.get("version", 0) < state["version"]:
        return DeviceView(device, "syncing", f"at version {observed.get('version')}")
    n = len(observed.get("functions", []))
    return DeviceView(device, "in-sync", f"version {state['version']}, {n} functions running")


def last_operations(session: Session, who: Principal) -> dict[str, LcmOperation]:
    last: dict[str, LcmOperation] = {}
    for op in lcm.list_operations(session, who):
        last[op.ns_instance_id] = op  # ordered by start time: the last one wins
    return last


def service_view(
    session: Session, who: Principal, ns: NsInstance, last: LcmOperation | None
) -> ServiceView:
    nsd = catalog.get_descriptor(session, who, ns.nsd_id)
    chain = lcm.effective_chain(nsd, ns.vnf_params)
    return ServiceView(ns, service_status(ns, last), chain, last)


def site_views(session: Session, who: Principal) -> list[SiteView]:
    tenants = {t.id: t.name for t in inventory.list_tenants(session, who)}
    devices = {d.site_id: d for d in inventory.list_devices(session, who)}
    last = last_operations(session, who)
    services: dict[str, list[ServiceView]] = defaultdict(list)
    for ns in lcm.list_ns_instances(session, who):
        services[ns.site_id].append(service_view(session, who, ns, last.get(ns.id)))
    out = []
    for site in inventory.list_sites(session, who):
        dev = devices.get(site.id)
        out.append(
            SiteView(
                site=site,
                tenant_name=tenants.get(site.tenant_id, "?"),
                device=device_view(session, who, dev) if dev else None,
                services=services.get(site.id, []),
            )
        )
    return sorted(out, key=lambda v: (v.tenant_name, v.site.name))


def operation_json(op: LcmOperation, names: dict[str, str]) -> dict[str, Any]:
    start = aware(op.start_time)
    entered = aware(op.state_entered_time)
    return {
        "id": op.id,
        "ns_instance_id": op.ns_instance_id,
        "service": names.get(op.ns_instance_id, op.ns_instance_id[:8]),
        "operation": op.operation,
        "state": op.operation_state,
        "current_step": op.current_step,
        "steps_done": list(op.steps_done or []),
        "progress": 100
        if op.operation_state in ("COMPLETED", "ROLLED_BACK")
        else int(100 * len(op.steps_done or []) / STEPS),
        "error": op.error,
        "start_time": _iso(start),
        "started": start.strftime("%Y-%m-%d %H:%M:%S") if start else "",
        "state_entered_time": _iso(entered),
        "seconds": round((entered - start).total_seconds(), 3) if start and entered else None,
    }


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") if dt else None


def operations_json(
    session: Session, who: Principal, ns_id: str | None = None
) -> list[dict[str, Any]]:
    names = {ns.id: ns.name for ns in lcm.list_ns_instances(session, who)}
    ops = lcm.list_operations(session, who, ns_id)
    return [operation_json(op, names) for op in reversed(ops)][:100]


def services_json(session: Session, who: Principal) -> dict[str, dict[str, str]]:
    last = last_operations(session, who)
    return {
        ns.id: {"ns_state": ns.ns_state, "status": service_status(ns, last.get(ns.id))}
        for ns in lcm.list_ns_instances(session, who)
    }


# ------------------------------------------------------------------------ traffic counters


@dataclass
class FunctionTraffic:
    """One function's latest counters, from its host's telemetry sample."""

    name: str
    function: str
    at: str
    interfaces: list[tuple[str, int, int]]  # ifname, rx bytes, tx bytes
    rules: list[tuple[str, int, int]]  # label, packets, bytes


def service_traffic(session: Session, ns: NsInstance) -> list[FunctionTraffic]:
    """The counters the hosts of a service last reported (agent telemetry, as shown by
    GET /api/v1/devices/{id}/state), per function in chain order. `ns` is one the caller
    may see (`lcm.get_ns_instance`)."""
    vnfs = session.scalars(
        select(VnfInstance)
        .where(VnfInstance.ns_instance_id == ns.id)
        .order_by(VnfInstance.position)
    ).all()
    docs = {
        d.host_id: d
        for d in session.scalars(
            select(HostDocument).where(HostDocument.host_id.in_({v.host_id for v in vnfs}))
        )
    }
    out: list[FunctionTraffic] = []
    for vnf in vnfs:
        doc = docs.get(vnf.host_id)
        sample = (doc.telemetry or {}).get("sample") if doc else None
        if not sample:
            continue
        telemetry = HostTelemetry.model_validate(sample)
        for fn in telemetry.functions:
            if fn.owner != vnf.id:
                continue
            out.append(
                FunctionTraffic(
                    name=vnf.name,
                    function=vnf.function,
                    at=telemetry.at.strftime("%Y-%m-%d %H:%M:%S"),
                    interfaces=[(i.ifname, i.rx_bytes, i.tx_bytes) for i in fn.interfaces],
                    rules=[
                        (r.comment or f"{r.chain} #{r.handle}", r.packets, r.bytes)
                        for r in fn.rules
                    ],
                )
            )
    return out
