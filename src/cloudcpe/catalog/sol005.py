"""The catalog as SOL005 represents it: VnfPkgInfo, NsdInfo and their modifications.

Field names follow the SOL005 definitions (camelCase, by alias); `present_*` turn a row into
the representation, `*_ATTRIBUTES` map the attributes that are plain columns to SQL so that
list filters on them run in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from cloudcpe.catalog.models import (
    IN_USE,
    NOT_IN_USE,
    NsDescriptor,
    NsdVnfPackage,
    VnfPackage,
)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Link(_Out):
    href: str


class Checksum(_Out):
    algorithm: str
    hash: str


class ProblemDetails(_Out):
    type: str | None = None
    title: str | None = None
    status: int
    detail: str
    instance: str | None = None


class SoftwareImageInfo(_Out):
    id: str
    name: str
    provider: str
    version: str
    checksum: Checksum
    container_format: str = Field(alias="containerFormat")
    disk_format: str = Field(alias="diskFormat")
    created_at: datetime = Field(alias="createdAt")
    min_disk: int = Field(alias="minDisk", ge=0)
    min_ram: int = Field(alias="minRam", ge=0)
    size: int = Field(ge=0)
    user_metadata: dict[str, Any] | None = Field(None, alias="userMetadata")
    image_path: str = Field(alias="imagePath")


class ArtifactInfo(_Out):
    artifact_path: str = Field(alias="artifactPath")
    checksum: Checksum
    metadata: dict[str, Any] | None = None


class VnfPkgLinks(_Out):
    self: Link
    vnfd: Link | None = None
    package_content: Link = Field(alias="packageContent")


class VnfPkgInfo(_Out):
    id: str
    vnfd_id: str | None = Field(None, alias="vnfdId")
    vnf_provider: str | None = Field(None, alias="vnfProvider")
    vnf_product_name: str | None = Field(None, alias="vnfProductName")
    vnf_software_version: str | None = Field(None, alias="vnfSoftwareVersion")
    vnfd_version: str | None = Field(None, alias="vnfdVersion")
    checksum: Checksum | None = None
    software_images: list[SoftwareImageInfo] | None = Field(None, alias="softwareImages")
    additional_artifacts: list[ArtifactInfo] | None = Field(None, alias="additionalArtifacts")
    onboarding_state: Literal["CREATED", "UPLOADING", "PROCESSING", "ONBOARDED", "ERROR"] = Field(
        alias="onboardingState"
    )
    onboarding_failure_details: ProblemDetails | None = Field(
        None, alias="onboardingFailureDetails"
    )
    operational_state: Literal["ENABLED", "DISABLED"] = Field(alias="operationalState")
    usage_state: Literal["IN_USE", "NOT_IN_USE"] = Field(alias="usageState")
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")
    links: VnfPkgLinks = Field(alias="_links")


class NsdLinks(_Out):
    self: Link
    nsd_content: Link


class NsdInfo(_Out):
    id: str
    nsd_id: str | None = Field(None, alias="nsdId")
    nsd_name: str | None = Field(None, alias="nsdName")
    nsd_version: str | None = Field(None, alias="nsdVersion")
    nsd_designer: str | None = Field(None, alias="nsdDesigner")
    nsd_invariant_id: str | None = Field(None, alias="nsdInvariantId")
    vnf_pkg_ids: list[str] | None = Field(None, alias="vnfPkgIds")
    pnfd_info_ids: list[str] | None = Field(None, alias="pnfdInfoIds")
    nested_nsd_info_ids: list[str] | None = Field(None, alias="nestedNsdInfoIds")
    nsd_onboarding_state: Literal["CREATED", "UPLOADING", "PROCESSING", "ONBOARDED", "ERROR"] = (
        Field(alias="nsdOnboardingState")
    )
    onboarding_failure_details: ProblemDetails | None = Field(
        None, alias="onboardingFailureDetails"
    )
    nsd_operational_state: Literal["ENABLED", "DISABLED"] = Field(alias="nsdOperationalState")
    nsd_usage_state: Literal["IN_USE", "NOT_IN_USE"] = Field(alias="nsdUsageState")
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")
    links: NsdLinks = Field(alias="_links")


class CreateVnfPkgInfoRequest(_In):
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")


class CreateNsdInfoRequest(_In):
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")


class VnfPkgInfoModifications(_In):
    operational_state: Literal["ENABLED", "DISABLED"] | None = Field(None, alias="operationalState")
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")


class NsdInfoModifications(_In):
    nsd_operational_state: Literal["ENABLED", "DISABLED"] | None = Field(
        None, alias="nsdOperationalState"
    )
    user_defined_data: dict[str, Any] | None = Field(None, alias="userDefinedData")


class UploadVnfPackageFromUriRequest(_In):
    address_information: str = Field(alias="addressInformation", min_length=1)
    user_name: str | None = Field(None, alias="userName")
    password: str | None = None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (how SOL005 PATCH bodies change userDefinedData)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# ------------------------------------------------------------------ SQL view of attributes


def vnf_package_usage() -> ColumnElement[str]:
    """IN_USE while an NSD uses the package."""
    used = exists(select(NsdVnfPackage.nsd_id).where(NsdVnfPackage.vnf_package_id == VnfPackage.id))
    return case((used, IN_USE), else_=NOT_IN_USE)


def nsd_usage() -> ColumnElement[str]:
    """IN_USE while NS instances of the descriptor exist."""
    from cloudcpe.lcm.models import NsInstance

    used = exists(select(NsInstance.id).where(NsInstance.nsd_id == NsDescriptor.id))
    return case((used, IN_USE), else_=NOT_IN_USE)


VNF_PACKAGE_ATTRIBUTES: dict[str, ColumnElement[Any]] = {
    "id": VnfPackage.id,  # type: ignore[dict-item]
    "vnfdId": VnfPackage.vnfd_id,  # type: ignore[dict-item]
    "vnfProvider": VnfPackage.vnf_provider,  # type: ignore[dict-item]
    "vnfProductName": VnfPackage.vnf_product_name,  # type: ignore[dict-item]
    "vnfSoftwareVersion": VnfPackage.vnf_software_version,  # type: ignore[dict-item]
    "vnfdVersion": VnfPackage.vnfd_version,  # type: ignore[dict-item]
    "onboardingState": VnfPackage.onboarding_state,  # type: ignore[dict-item]
    "operationalState": VnfPackage.operational_state,  # type: ignore[dict-item]
}


def vnf_package_attributes() -> dict[str, ColumnElement[Any]]:
    return {**VNF_PACKAGE_ATTRIBUTES, "usageState": vnf_package_usage()}


def nsd_attributes() -> dict[str, ColumnElement[Any]]:
    return {
        "id": NsDescriptor.id,  # type: ignore[dict-item]
        "nsdId": func.coalesce(NsDescriptor.nsd_id, NsDescriptor.id),
        "nsdName": func.coalesce(NsDescriptor.nsd_name, NsDescriptor.name),
        "nsdVersion": NsDescriptor.version,  # type: ignore[dict-item]
        "nsdInvariantId": func.coalesce(NsDescriptor.invariant_id, NsDescriptor.id),
        "nsdOnboardingState": NsDescriptor.onboarding_state,  # type: ignore[dict-item]
        "nsdOperationalState": NsDescriptor.operational_state,  # type: ignore[dict-item]
        "nsdUsageState": nsd_usage(),
    }


# ------------------------------------------------------------------ presenting rows


def present_vnf_package(pkg: VnfPackage, usage: str, base: str) -> VnfPkgInfo:
    """`base`: the API root URL (scheme://host[/prefix]) the links start with."""
    href = f"{base}/vnfpkgm/v1/vnf_packages/{pkg.id}"
    onboarded = pkg.onboarding_state == "ONBOARDED"
    return VnfPkgInfo.model_validate(
        {
            "id": pkg.id,
            "vnfdId": pkg.vnfd_id,
            "vnfProvider": pkg.vnf_provider,
            "vnfProductName": pkg.vnf_product_name,
            "vnfSoftwareVersion": pkg.vnf_software_version,
            "vnfdVersion": pkg.vnfd_version,
            "checksum": pkg.checksum,
            "softwareImages": pkg.software_images if onboarded else None,
            "additionalArtifacts": pkg.additional_artifacts if onboarded else None,
            "onboardingState": pkg.onboarding_state,
            "onboardingFailureDetails": pkg.onboarding_failure,
            "operationalState": pkg.operational_state,
            "usageState": usage,
            "userDefinedData": pkg.user_defined_data or None,
            "_links": {
                "self": {"href": href},
                "vnfd": {"href": f"{href}/vnfd"} if onboarded else None,
                "packageContent": {"href": f"{href}/package_content"},
            },
        }
    )


def present_nsd(nsd: NsDescriptor, usage: str, base: str, vnf_pkg_ids: list[str]) -> NsdInfo:
    href = f"{base}/nsd/v1/ns_descriptors/{nsd.id}"
    onboarded = nsd.onboarding_state == "ONBOARDED"
    return NsdInfo.model_validate(
        {
            "id": nsd.id,
            "nsdId": (nsd.nsd_id or nsd.id) if onboarded else None,
            "nsdName": (nsd.nsd_name or nsd.name) if onboarded else None,
            "nsdVersion": nsd.version if onboarded else None,
            "nsdDesigner": nsd.designer or None,
            "nsdInvariantId": (nsd.invariant_id or nsd.id) if onboarded else None,
            "vnfPkgIds": vnf_pkg_ids if onboarded else None,
            "nsdOnboardingState": nsd.onboarding_state,
            "onboardingFailureDetails": nsd.onboarding_failure,
            "nsdOperationalState": nsd.operational_state,
            "nsdUsageState": usage,
            "userDefinedData": nsd.user_defined_data or None,
            "_links": {
                "self": {"href": href},
                "nsd_content": {"href": f"{href}/nsd_content"},
            },
        }
    )
