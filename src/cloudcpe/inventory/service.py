"""Inventory services: tenants, sites and devices, with tenancy applied to every read.
(POPs and compute nodes: `inventory.pops`; their address pools: `inventory.ipam`.)"""

from __future__ import annotations

import secrets
from datetime import timedelta
from ipaddress import IPv4Network, ip_network

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.errors import Conflict, Invalid, NotFound
from cloudcpe.inventory import schemas
from cloudcpe.inventory.enrolment import issue_activation_code
from cloudcpe.inventory.models import Device, NfviHost, Pop, Site, Tenant


def list_tenants(session: Session, who: Principal) -> list[Tenant]:
    stmt = who.scoped(select(Tenant).order_by(Tenant.name), Tenant.id)
    return list(session.scalars(stmt))


def get_tenant(session: Session, who: Principal, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or not who.can_see(tenant.id):
        raise NotFound("tenant", tenant_id)
    return tenant


def tenant_by_name(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound("tenant", name)
    return tenant


def create_tenant(session: Session, who: Principal, data: schemas.TenantCreate) -> Tenant:
    who.require_operator("creating a tenant")
    if session.scalar(select(Tenant.id).where(Tenant.name == data.name)):
        raise Conflict(f"tenant {data.name!r} already exists")
    tenant = Tenant(name=data.name, description=data.description)
    session.add(tenant)
    session.flush()
    return tenant


def owning_tenant(session: Session, who: Principal, tenant_id: str | None) -> str:
    """The tenant a new object belongs to: the caller's own, or (operators) the one named."""
    if not who.is_operator:
        if tenant_id not in (None, who.tenant_id):
            raise Invalid.at(["body", "tenant_id"], "no such tenant")
        assert who.tenant_id is not None
        return who.tenant_id
    if tenant_id is None:
        raise Invalid.at(["body", "tenant_id"], "required for operator tokens")
    if session.get(Tenant, tenant_id) is None:
        raise Invalid.at(["body", "tenant_id"], "no such tenant")
    return tenant_id


def list_sites(session: Session, who: Principal) -> list[Site]:
    return list(session.scalars(who.scoped(select(Site).order_by(Site.name), Site.tenant_id)))


def get_site(session: Session, who: Principal, site_id: str) -> Site:
    site = session.get(Site, site_id)
    if site is None or not who.can_see(site.tenant_id):
        raise NotFound("site", site_id)
    return site


def create_site(session: Session, who: Principal, data: schemas.SiteCreate) -> Site:
    who.require("manage_tenant", "creating a site")
    tenant_id = owning_tenant(session, who, data.tenant_id)
    _check_pop(session, data)
    _check_lan_prefix(session, tenant_id, data.lan_prefix)
    if session.scalar(select(Site.id).where(Site.tenant_id == tenant_id, Site.name == data.name)):
        raise Conflict(f"site {data.name!r} already exists for this tenant")
    site = Site(
        tenant_id=tenant_id,
        name=data.name,
        kind=data.kind,
        lan_prefix=str(data.lan_prefix),
        pop_id=data.pop_id,
        description=data.description,
    )
    session.add(site)
    session.flush()
    return site


def _check_pop(session: Session, data: schemas.SiteCreate) -> None:
    """A cloud site is served from a POP; an on-premise site runs its chains itself."""
    if data.kind == "on_premise":
        if data.pop_id is not None:
            raise Invalid.at(["body", "pop_id"], "only cloud sites are served from a POP")
        return
    if data.pop_id is None:
        raise Invalid.at(["body", "pop_id"], "required for cloud sites")
    if session.get(Pop, data.pop_id) is None:
        raise Invalid.at(["body", "pop_id"], "no such POP")


def _check_lan_prefix(session: Session, tenant_id: str, prefix: IPv4Network) -> None:
    """A tenant's site LANs are routed between its sites later: they must not overlap."""
    if prefix.prefixlen > 29:
        raise Invalid.at(["body", "lan_prefix"], "must be /29 or larger to hold hosts")
    for other in session.scalars(select(Site).where(Site.tenant_id == tenant_id)):
        if ip_network(other.lan_prefix).overlaps(prefix):
            raise Invalid.at(
                ["body", "lan_prefix"],
                f"{prefix} overlaps site {other.name!r} ({other.lan_prefix})",
            )


def list_devices(session: Session, who: Principal) -> list[Device]:
    stmt = who.scoped(select(Device).order_by(Device.name), Device.tenant_id)
    return list(session.scalars(stmt))


def get_device(session: Session, who: Principal, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None or not who.can_see(device.tenant_id):
        raise NotFound("device", device_id)
    return device


def create_device(
    session: Session,
    who: Principal,
    data: schemas.DeviceCreate,
    activation_ttl: timedelta = timedelta(days=7),
) -> schemas.DeviceCreated:
    """Register a device; an agent-managed one gets its activation code (in the answer only)."""
    device = _new_device(session, who, data)
    code = (
        issue_activation_code(device, activation_ttl)[0] if device.management == "agent" else None
    )
    session.flush()
    created = schemas.DeviceCreated.model_validate(device)
    return created.model_copy(update={"activation_code": code})


def new_activation_code(
    session: Session, who: Principal, device_id: str, ttl: timedelta
) -> schemas.ActivationCodePublic:
    """A new activation code for an agent-managed device; the previous one stops working. An
    activated device may activate again with it (a replaced unit): its agent credential is
    replaced when that happens."""
    who.require_operator("issuing an activation code")
    device = get_device(session, who, device_id)
    code, expires = issue_activation_code(device, ttl)
    session.flush()
    return schemas.ActivationCodePublic(
        device_id=device.id, activation_code=code, expires_at=expires
    )


def _new_device(session: Session, who: Principal, data: schemas.DeviceCreate) -> Device:
    who.require_operator("registering a device")
    if data.management == "agent" and data.netns is not None:
        raise Invalid.at(
            ["body", "netns"],
            "an agent-managed device is realised by its own agent; netns is for embedded "
            "devices only",
        )
    site = session.get(Site, data.site_id)
    if site is None:
        raise Invalid.at(["body", "site_id"], "no such site")
    if data.wan_gateway not in data.wan_address.network:
        raise Invalid.at(
            ["body", "wan_gateway"],
            f"{data.wan_gateway} is not in the WAN subnet {data.wan_address.network}",
        )
    if data.wan_gateway == data.wan_address.ip:
        raise Invalid.at(["body", "wan_gateway"], "must differ from the WAN address")
    if data.wan_address.network.overlaps(ip_network(site.lan_prefix)):
        raise Invalid.at(["body", "wan_address"], f"overlaps the site LAN {site.lan_prefix}")
    _check_unique_device(session, data, site)
    device = Device(
        tenant_id=site.tenant_id,
        site_id=site.id,
        name=data.name,
        serial=data.serial,
        model=data.model,
        host_key=secrets.token_hex(4),
        wan_address=str(data.wan_address),
        wan_gateway=str(data.wan_gateway),
        lan_port=data.lan_port,
        wan_port=data.wan_port,
        max_functions=data.max_functions,
        netns=data.netns,
        management=data.management,
    )
    session.add(device)
    session.flush()
    return device


def _check_unique_device(session: Session, data: schemas.DeviceCreate, site: Site) -> None:
    if session.scalar(select(NfviHost.id).where(NfviHost.serial == data.serial)):
        raise Conflict(f"a device with serial {data.serial!r} is already registered")
    if session.scalar(select(Device.id).where(Device.site_id == site.id)):
        raise Conflict(f"site {site.name!r} already has a device")
    if data.netns and session.scalar(select(NfviHost.id).where(NfviHost.netns == data.netns)):
        raise Conflict(f"namespace {data.netns!r} already plays another host")


def device_of_site(session: Session, site: Site) -> Device | None:
    return session.scalar(select(Device).where(Device.site_id == site.id))
