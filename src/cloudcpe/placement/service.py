"""Where each function of a chain runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudcpe.errors import Invalid
from cloudcpe.inventory.models import Device, NfviHost, Site
from cloudcpe.inventory.service import device_of_site
from cloudcpe.lcm.models import VnfInstance


def functions_on(session: Session, host: NfviHost, excluding_ns: str | None = None) -> int:
    stmt = select(func.count()).select_from(VnfInstance).where(VnfInstance.host_id == host.id)
    if excluding_ns:
        stmt = stmt.where(VnfInstance.ns_instance_id != excluding_ns)
    return int(session.scalar(stmt) or 0)


def choose_host(session: Session, site: Site, chain_length: int, ns_id: str) -> Device:
    """On-premise: the site's own device, if it has room for the whole chain."""
    if site.kind != "on_premise":
        raise Invalid.at(
            ["site_id"],
            f"site {site.name!r} is a cloud site; placement in a POP comes with POP support",
        )
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
