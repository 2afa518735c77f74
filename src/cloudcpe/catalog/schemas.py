"""API schemas of the catalog: functions and network service descriptors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudcpe.inventory.schemas import Name


class FunctionPublic(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]


class ChainElement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    function: str = Field(description="a function of the catalog: firewall, nat, router, ...")
    params: dict[str, Any] = Field(default_factory=dict)
    customer_params: list[str] = Field(
        default_factory=list,
        description="parameters a customer may set when ordering (top-level names, e.g. rules)",
    )


class NsDescriptorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    version: str = Field("1.0", min_length=1, max_length=31)
    description: str = Field("", max_length=500)
    tenant_id: str | None = Field(
        None, description="operators: omit to publish for every tenant; tenants: their own"
    )
    chain: list[ChainElement] = Field(min_length=1, description="functions in order, LAN to WAN")


class NsDescriptorPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str | None
    name: str
    version: str
    description: str
    chain: list[dict[str, Any]]
    source: str = Field(description="chain (made here) or sol001 (an onboarded SOL001 NSD)")
    onboarding_state: str
    operational_state: str
    vnfd_ids: list[str]
    sol001: dict[str, Any] | None = Field(
        None, description="the parsed SOL001 NSD: VNFs, virtual links, forwarding path, notes"
    )
    created_at: datetime


class VnfPackagePublic(BaseModel):
    """A VNF package as onboarded: the parsed VNFD and what the package checks found
    (`package.notes` says what was not verified, e.g. a certificate's chain of trust)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str | None
    onboarding_state: str
    operational_state: str
    onboarding_failure: dict[str, Any] | None
    vnfd_id: str | None
    vnf_provider: str | None
    vnf_product_name: str | None
    vnf_software_version: str | None
    vnfd_version: str | None
    vnfd: dict[str, Any] | None
    package: dict[str, Any] | None
    created_at: datetime
