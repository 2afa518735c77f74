"""Where each function of a chain runs.

One NS descriptor serves both kinds of site; placement decides where its functions run:
- on-premise site: on the site's own device, if it has room for the whole chain;
- cloud site: on a compute node of the site's POP, the least loaded one (functions placed /
  capacity) that has room for the whole chain. The site's device is a thin CPE that runs no
  functions: it reaches the chain through a tunnel.

A chain never spans hosts: its functions are joined by links inside one host.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudcpe.errors import Invalid
from cloudcpe.inventory import ipam
from cloudcpe.inventory.models import ComputeNode, Device, NfviHost, Pop, Site
from cloudcpe.inventory.pops import compute_nodes_of
from cloudcpe.inventory.service import device_of_site
from cloudcpe.lcm.models import NsInstance, SiteTunnel, VnfInstance


def functions_on(session: Session, host: NfviHost, excluding_ns: str | None = None) -> int:
    return functions_by_host(session, [host.id], excluding_ns).get(host.id, 0)


def functions_by_host(
    session: Session, host_ids: Iterable[str], excluding_ns: str | None = None
) -> dict[str, int]:
    ids = list(host_ids)
    stmt = (
        select(VnfInstance.host_id, func.count())
        .where(VnfInstance.host_id.in_(ids))
        .group_by(VnfInstance.host_id)
    )
    if excluding_ns:
        stmt = stmt.where(VnfInstance.ns_instance_id != excluding_ns)
    counts = {host_id: int(n) for host_id, n in session.execute(stmt).all()}
    return {host_id: counts.get(host_id, 0) for host_id in ids}


def choose_host(session: Session, site: Site, chain_length: int, ns_id: str) -> NfviHost:
    """The host that runs the whole chain of NS instance `ns_id` at `site`; raises Invalid
    (naming the request field at fault) when there is none."""
    if site.kind == "cloud":
        return _compute_node_for(session, site, chain_length, ns_id)
    return _device_for(session, site, chain_length, ns_id)


def _device_for(session: Session, site: Site, chain_length: int, ns_id: str) -> Device:
    device = device_of_site(session, site)
    if device is None:
        raise Invalid.at(["site_id"], f"site {site.name!r} has no device to run functions on")
    used = functions_on(session, device, excluding_ns=ns_id)
    if used + chain_length > device.max_functions:
        raise Invalid.at(
            ["nsd_id"],
            f"chain of {chain_length} functions is too long for device "
            f"{device.name!r}: it runs at most {device.max_functions} "
            f"and {used} are in use",
        )
    return device


def _compute_node_for(session: Session, site: Site, chain_length: int, ns_id: str) -> ComputeNode:
    pop = session.get(Pop, site.pop_id) if site.pop_id else None
    if pop is None:
        raise Invalid.at(["site_id"], f"cloud site {site.name!r} is served by no POP")
    if device_of_site(session, site) is None:
        raise Invalid.at(
            ["site_id"], f"cloud site {site.name!r} has no thin CPE to connect its LAN to the POP"
        )
    _check_site_free(session, site, ns_id)
    if ipam.address_of(session, ns_id) is None and not ipam.has_room(session, pop):
        raise Invalid.at(
            ["site_id"], f"POP {pop.name!r} has no public address left in {pop.public_pool}"
        )
    nodes = compute_nodes_of(session, pop)
    if not nodes:
        raise Invalid.at(["site_id"], f"POP {pop.name!r} has no compute nodes")
    used = functions_by_host(session, [n.id for n in nodes], excluding_ns=ns_id)
    fitting = [n for n in nodes if used[n.id] + chain_length <= n.max_functions]
    if not fitting:
        load = ", ".join(f"{n.name} {used[n.id]}/{n.max_functions}" for n in nodes)
        raise Invalid.at(
            ["site_id"],
            f"POP {pop.name!r} is full: a chain of {chain_length} functions fits on none of "
            f"its compute nodes ({load})",
        )
    return min(fitting, key=lambda n: (used[n.id] / n.max_functions, used[n.id], n.name))


def _check_site_free(session: Session, site: Site, ns_id: str) -> None:
    """A cloud site's LAN reaches one chain: the one its thin CPE has a tunnel to."""
    other = session.scalar(
        select(NsInstance)
        .join(SiteTunnel, SiteTunnel.ns_instance_id == NsInstance.id)
        .where(NsInstance.site_id == site.id, NsInstance.id != ns_id)
    )
    if other is not None:
        raise Invalid.at(
            ["site_id"],
            f"cloud site {site.name!r} is already served by NS instance {other.name!r} "
            f"({other.id}); terminate it first",
        )
