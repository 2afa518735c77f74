"""The Network Service Designer's saved versions, validation and publishing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from cloudcpe.api.deps import PrincipalDep, SessionDep
from cloudcpe.catalog import designs
from cloudcpe.catalog.schemas import NsDescriptorPublic

router = APIRouter(tags=["designer"])


class DesignPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str | None
    name: str
    version: int
    description: str
    chain: list[dict[str, object]]
    saved_by: str
    published_nsd_id: str | None


class ValidationResult(BaseModel):
    valid: bool
    invalid_params: list[dict[str, str]]


@router.get("/ns_designs", response_model=list[DesignPublic])
def list_designs(session: SessionDep, who: PrincipalDep) -> object:
    return designs.list_designs(session, who)


@router.post("/ns_designs/validate", response_model=ValidationResult)
def validate_design(data: designs.DesignSave, who: PrincipalDep) -> object:
    """The catalog's own validation, without saving: every field at fault."""
    errors = designs.validate_design(data)
    return {
        "valid": not errors,
        "invalid_params": [{"name": e.path(), "reason": e.msg} for e in errors],
    }


@router.post("/ns_designs", response_model=DesignPublic, status_code=201)
def save_design(data: designs.DesignSave, session: SessionDep, who: PrincipalDep) -> object:
    return designs.save_design(session, who, data)


@router.get("/ns_designs/{design_id}", response_model=DesignPublic)
def get_design(design_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return designs.get_design(session, who, design_id)


@router.post("/ns_designs/{design_id}/publish", response_model=NsDescriptorPublic, status_code=201)
def publish_design(design_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return designs.publish_design(session, who, design_id)
