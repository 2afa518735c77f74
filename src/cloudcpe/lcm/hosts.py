"""How the LCM reaches NFVI hosts: the gateway interface, and rendering host documents.

What a host runs, read from the database:
- a device at an on-premise site: the chains placed on it;
- a device at a cloud site (a thin CPE): the site edge of each of its site's tunnels;
- a compute node: the chains placed on it, each reached through its tunnel, and the
  node's underlay (its tunnel endpoint) while it has any.
"""

from __future__ import annotations

from collections import defaultdict
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.inventory import ipam
from cloudcpe.inventory.models import ComputeNode, Device, NfviHost, Site
from cloudcpe.lcm.models import HostDocument, NsInstance, SiteTunnel, VnfInstance
from cloudcpe.lcm.render import ChainFunction, Parts, PlacedChain, render_host
from cloudcpe.lcm.render_cloud import (
    SiteEdge,
    Underlay,
    chain_tunnel,
    edge_tunnel,
    pop_port,
    render_edge,
    render_underlay,
)
from cloudcpe.nfvi.model import HostDesiredState, ObservedState, TunnelEndpoint
from cloudcpe.store.base import utcnow


class HostGateway(Protocol):
    """Delivers a host's desired state and answers what the host then observes."""

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState: ...


def placed_chains(session: Session, host: NfviHost) -> list[PlacedChain]:
    """The chains whose functions run on `host`, in a stable order."""
    rows = session.execute(
        select(VnfInstance, NsInstance, Site)
        .join(NsInstance, VnfInstance.ns_instance_id == NsInstance.id)
        .join(Site, NsInstance.site_id == Site.id)
        .where(VnfInstance.host_id == host.id)
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
        functions = [
            ChainFunction(owner=v.id, key=v.key, kind=v.function, params=v.params) for v in vnfs
        ]
        if isinstance(host, ComputeNode):
            chains.append(_cloud_chain(session, host, ns, site, functions))
        elif isinstance(host, Device):
            chains.append(
                PlacedChain(
                    key=ns.key,
                    lan_prefix=IPv4Network(site.lan_prefix),
                    wan_address=IPv4Interface(host.wan_address),
                    wan_gateway=IPv4Address(host.wan_gateway),
                    lan_port=host.lan_port,
                    wan_port=host.wan_port,
                    functions=functions,
                )
            )
        else:
            raise TypeError(f"host {host.name!r} is neither a device nor a compute node")
    return chains


def _cloud_chain(
    session: Session,
    node: ComputeNode,
    ns: NsInstance,
    site: Site,
    functions: list[ChainFunction],
) -> PlacedChain:
    tunnel = _tunnel(session, ns)
    public = ipam.address_of(session, ns.id)
    if public is None:
        raise LookupError(f"NS instance {ns.id} on a compute node holds no public address")
    uplink = IPv4Interface(node.uplink_address)
    lan = IPv4Network(site.lan_prefix)
    return PlacedChain(
        key=ns.key,
        lan_prefix=lan,
        wan_address=IPv4Interface(f"{public}/{uplink.network.prefixlen}"),
        wan_gateway=IPv4Address(node.uplink_gateway),
        lan_port=None,
        wan_port=node.uplink_port,
        functions=functions,
        tunnel=chain_tunnel(
            node.host_key, tunnel.slot, tunnel.pop_private_key, tunnel.cpe_public_key, lan
        ),
    )


def _tunnel(session: Session, ns: NsInstance) -> SiteTunnel:
    tunnel = session.scalar(select(SiteTunnel).where(SiteTunnel.ns_instance_id == ns.id))
    if tunnel is None:
        raise LookupError(f"NS instance {ns.id} on a compute node has no tunnel")
    return tunnel


def site_edges(session: Session, device: Device) -> list[SiteEdge]:
    """The attachments a thin CPE holds: one per tunnel of its site's chains."""
    rows = session.execute(
        select(SiteTunnel, NsInstance, Site, ComputeNode)
        .join(NsInstance, SiteTunnel.ns_instance_id == NsInstance.id)
        .join(Site, NsInstance.site_id == Site.id)
        .join(ComputeNode, SiteTunnel.compute_node_id == ComputeNode.id)
        .where(SiteTunnel.device_id == device.id)
        .order_by(NsInstance.created_at, NsInstance.id)
    ).all()
    edges = []
    for tunnel, ns, site, node in rows:
        endpoint = TunnelEndpoint(
            address=IPv4Interface(node.uplink_address).ip, port=pop_port(tunnel.slot)
        )
        edges.append(
            SiteEdge(
                key=ns.key,
                owner=ns.id,
                lan_prefix=IPv4Network(site.lan_prefix),
                lan_port=device.lan_port,
                wan_port=device.wan_port,
                wan_address=IPv4Interface(device.wan_address),
                wan_gateway=IPv4Address(device.wan_gateway),
                tunnel=edge_tunnel(
                    device.host_key, tunnel.pop_public_key, tunnel.cpe_private_key, endpoint
                ),
            )
        )
    return edges


def render_desired(session: Session, host: NfviHost, version: int) -> HostDesiredState:
    """What `host` should run now, as its desired state document."""
    chains = placed_chains(session, host)
    extra: list[Parts] = []
    if isinstance(host, Device):
        extra += [render_edge(host.host_key, edge) for edge in site_edges(session, host)]
    if isinstance(host, ComputeNode) and chains:
        underlay = Underlay(
            owner=host.id,
            port=host.uplink_port,
            address=IPv4Interface(host.uplink_address),
            gateway=IPv4Address(host.uplink_gateway),
        )
        extra.append(render_underlay(host.host_key, underlay))
    return render_host(host.host_key, version, chains, extra)


def render_document(session: Session, host: NfviHost) -> HostDocument:
    """Recompute a host's desired state from the database; bump its version if it changed."""
    doc = session.scalar(
        select(HostDocument).where(HostDocument.host_id == host.id).with_for_update()
    )
    if doc is None:
        doc = HostDocument(host_id=host.id, version=0, desired={})
        session.add(doc)
    desired = render_desired(session, host, doc.version)
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
