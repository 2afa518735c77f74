"""Tenants, sites and devices."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from cloudcpe.api.deps import PrincipalDep, SessionDep, SettingsDep
from cloudcpe.inventory import schemas
from cloudcpe.inventory import service as inventory

router = APIRouter(tags=["inventory"])


@router.get("/tenants", response_model=list[schemas.TenantPublic])
def list_tenants(session: SessionDep, who: PrincipalDep) -> object:
    return inventory.list_tenants(session, who)


@router.post("/tenants", response_model=schemas.TenantPublic, status_code=201)
def create_tenant(data: schemas.TenantCreate, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.create_tenant(session, who, data)


@router.get("/tenants/{tenant_id}", response_model=schemas.TenantPublic)
def get_tenant(tenant_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.get_tenant(session, who, tenant_id)


@router.get("/sites", response_model=list[schemas.SitePublic])
def list_sites(session: SessionDep, who: PrincipalDep) -> object:
    return inventory.list_sites(session, who)


@router.post("/sites", response_model=schemas.SitePublic, status_code=201)
def create_site(data: schemas.SiteCreate, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.create_site(session, who, data)


@router.get("/sites/{site_id}", response_model=schemas.SitePublic)
def get_site(site_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.get_site(session, who, site_id)


@router.get("/devices", response_model=list[schemas.DevicePublic])
def list_devices(session: SessionDep, who: PrincipalDep) -> object:
    return inventory.list_devices(session, who)


@router.post("/devices", response_model=schemas.DeviceCreated, status_code=201)
def create_device(
    data: schemas.DeviceCreate, session: SessionDep, who: PrincipalDep, settings: SettingsDep
) -> object:
    """Register a device. An agent-managed device (`management: agent`) gets a one-time
    activation code, in this answer only."""
    ttl = timedelta(seconds=settings.activation_ttl_seconds)
    return inventory.create_device(session, who, data, ttl)


@router.post(
    "/devices/{device_id}/activation_code",
    response_model=schemas.ActivationCodePublic,
    status_code=201,
)
def new_activation_code(
    device_id: str, session: SessionDep, who: PrincipalDep, settings: SettingsDep
) -> object:
    """Issue a new activation code for an agent-managed device (the previous one stops
    working). An activated device may re-activate with it, e.g. a replaced unit."""
    ttl = timedelta(seconds=settings.activation_ttl_seconds)
    return inventory.new_activation_code(session, who, device_id, ttl)


@router.get("/devices/{device_id}", response_model=schemas.DevicePublic)
def get_device(device_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.get_device(session, who, device_id)
