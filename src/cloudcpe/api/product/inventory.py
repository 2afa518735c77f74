"""Tenants, sites and devices."""

from __future__ import annotations

from fastapi import APIRouter

from cloudcpe.api.deps import PrincipalDep, SessionDep
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


@router.post("/devices", response_model=schemas.DevicePublic, status_code=201)
def create_device(data: schemas.DeviceCreate, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.create_device(session, who, data)


@router.get("/devices/{device_id}", response_model=schemas.DevicePublic)
def get_device(device_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return inventory.get_device(session, who, device_id)
