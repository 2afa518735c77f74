"""How the LCM reaches NFVI hosts: the gateway interface, and rendering host documents."""

from __future__ import annotations

from collections import defaultdict
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.inventory.models import Device, NfviHost, Site
from cloudcpe.lcm.models import HostDocument, NsInstance, VnfInstance
from cloudcpe.lcm.render import ChainFunction, PlacedChain, render_host
from cloudcpe.nfvi.model import HostDesiredState, ObservedState
from cloudcpe.store.base import utcnow


class HostGateway(Protocol):
    """Delivers a host's desired state and answers what the host then observes."""

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState: ...


def placed_chains(session: Session, host: NfviHost) -> list[PlacedChain]:
    if not isinstance(host, Device):
        raise NotImplementedError("chains on compute nodes come with POP support")
    device = host
    rows = session.execute(
        select(VnfInstance, NsInstance, Site)
        .join(NsInstance, VnfInstance.ns_instance_id == NsInstance.id)
        .join(Site, NsInstance.site_id == Site.id)
        .where(VnfInstance.host_id == device.id)
        .order_by(NsInstance.created_at, NsInstance.id, VnfInstance.position)
    ).all()
    by_ns: dict[str, list[VnfInstance]] = defaultdict(list)
    context: dict[str, tuple[NsInstance, Site]] = {}
    for vnf, ns, site in rows:
        by_ns[ns.id].append(vnf)
        context[ns.id] = (ns, site)
    chains = []
    for ns_id, vnfs in by_ns.items():
        ns, site = context[ns_id]
        chains.append(
            PlacedChain(
                key=ns.key,
                lan_prefix=IPv4Network(site.lan_prefix),
                wan_address=IPv4Interface(device.wan_address),
                wan_gateway=IPv4Address(device.wan_gateway),
                lan_port=device.lan_port,
                wan_port=device.wan_port,
                functions=[
                    ChainFunction(owner=v.id, key=v.key, kind=v.function, params=v.params)
                    for v in vnfs
                ],
            )
        )
    return chains


def render_document(session: Session, host: NfviHost) -> HostDocument:
    """Recompute a host's desired state from the database; bump its version if it changed."""
    doc = session.scalar(
        select(HostDocument).where(HostDocument.host_id == host.id).with_for_update()
    )
    if doc is None:
        doc = HostDocument(host_id=host.id, version=0, desired={})
        session.add(doc)
    desired = render_host(host.host_key, doc.version, placed_chains(session, host))
    content = desired.model_dump(mode="json", exclude={"version"})
    old = {k: v for k, v in (doc.desired or {}).items() if k != "version"}
    if content != old:
        doc.version += 1
        doc.desired = {**content, "version": doc.version}
        doc.updated_at = utcnow()
    session.flush()
    return doc


def descriptor_of(session: Session, ns: NsInstance) -> NsDescriptor:
    return session.get_one(NsDescriptor, ns.nsd_id)
