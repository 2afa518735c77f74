"""The function catalog and network service descriptors."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cloudcpe.api.deps import CatalogDep, PrincipalDep, SessionDep
from cloudcpe.catalog import packages, schemas
from cloudcpe.catalog import service as catalog

router = APIRouter(tags=["catalog"])


@router.get("/functions", response_model=list[schemas.FunctionPublic])
def list_functions(who: PrincipalDep) -> object:
    return catalog.list_functions()


@router.get("/ns_descriptors", response_model=list[schemas.NsDescriptorPublic])
def list_descriptors(session: SessionDep, who: PrincipalDep) -> object:
    return catalog.list_descriptors(session, who)


@router.post("/ns_descriptors", response_model=schemas.NsDescriptorPublic, status_code=201)
def create_descriptor(
    data: schemas.NsDescriptorCreate, session: SessionDep, who: PrincipalDep
) -> object:
    return catalog.create_descriptor(session, who, data)


@router.get("/ns_descriptors/{nsd_id}", response_model=schemas.NsDescriptorPublic)
def get_descriptor(nsd_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return catalog.get_descriptor(session, who, nsd_id)


@router.delete("/ns_descriptors/{nsd_id}", status_code=204)
def delete_descriptor(
    nsd_id: str, session: SessionDep, who: PrincipalDep, config: CatalogDep
) -> Response:
    catalog.delete_descriptor(session, who, nsd_id, config.store)
    return Response(status_code=204)


@router.get("/vnf_packages", response_model=list[schemas.VnfPackagePublic])
def list_vnf_packages(session: SessionDep, who: PrincipalDep) -> object:
    """VNF packages (onboarded through /vnfpkgm/v1) with their parsed VNFD and checks."""
    return packages.list_packages(session, who)


@router.get("/vnf_packages/{pkg_id}", response_model=schemas.VnfPackagePublic)
def get_vnf_package(pkg_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return packages.get_package(session, who, pkg_id)
