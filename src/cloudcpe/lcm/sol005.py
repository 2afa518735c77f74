"""NS instances and LCM operation occurrences as SOL005 represents them (NsInstance,
NsLcmOpOcc) and the SOL005 request bodies of the NS LCM API.

Field names follow the definition (camelCase, by alias); `present_*` turn rows into the
representation (a batch of rows at a time, for lists), `*_attributes` map the attributes that
are plain columns to SQL so that list filters on them run in the database.

How our model maps onto SOL005:

- an NS instance is made from an NSD (`nsdInfoId`: the catalog descriptor's id; `nsdId`: the
  NSD's own identifier, or the descriptor's id for a descriptor made from a simple chain);
  the site it is deployed to is a cloudcpe extension of CreateNsRequest:
  `additionalParams.siteId` (required), with optional `additionalParams.vnfParams` (per
  function parameter overrides, as `vnf_params` of the product API);
- each function of the chain is a `vnfInstance`: `vnfdId` the VNFD it came from (an SOL001
  NSD's), or `cloudcpe/<function>` for a built-in function of a simple chain;
  `vnfConfigurableProperties` its effective parameters (e.g. firewall rules); `metadata`
  the function, its position in the chain and its host;
- an LCM operation is an `NsLcmOpOcc`; `isAutomaticInvocation` is always false (cloudcpe
  starts no operation by itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog.models import NsDescriptor, NsdVnfPackage, VnfPackage
from cloudcpe.errors import FieldError, Invalid
from cloudcpe.lcm import service
from cloudcpe.lcm.models import LcmOperation, NsInstance, VnfInstance
from cloudcpe.lcm.schemas import NsInstanceCreate, UpdateRequest

NSLCM = "/nslcm/v1"


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class _In(BaseModel):
    """SOL005 request bodies: attributes cloudcpe does not use are accepted and ignored
    (an NFVO may leave optional features aside), wrong types of those it uses are not."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt  # SQLite: naive UTC


class Link(_Out):
    href: str


class ProblemDetails(_Out):
    type: str | None = None
    title: str | None = None
    status: int
    detail: str
    instance: str | None = None


# ------------------------------------------------------------------ requests


class NsCreateExtension(_In):
    site_id: str = Field(alias="siteId", min_length=1, description="the site to deploy to")
    vnf_params: dict[str, dict[str, Any]] = Field(default_factory=dict, alias="vnfParams")


class CreateNsRequest(_In):
    nsd_id: str = Field(alias="nsdId", description="an NSD's nsdId or its NsdInfo id")
    ns_name: str = Field(alias="nsName", min_length=1, max_length=63)
    ns_description: str = Field(alias="nsDescription", max_length=500)
    additional_params: NsCreateExtension = Field(
        alias="additionalParams",
        description="cloudcpe extension: {siteId (required), vnfParams (optional)}",
    )


class InstantiateNsRequest(_In):
    ns_flavour_id: str = Field(alias="nsFlavourId")


class ModifyVnfInfoData(_In):
    vnf_instance_id: str = Field(alias="vnfInstanceId")
    vnf_configurable_properties: dict[str, Any] | None = Field(
        None, alias="vnfConfigurableProperties"
    )


UpdateType = Literal[
    "ADD_VNF",
    "REMOVE_VNF",
    "INSTANTIATE_VNF",
    "CHANGE_VNF_DF",
    "OPERATE_VNF",
    "MODIFY_VNF_INFORMATION",
    "CHANGE_EXTERNAL_VNF_CONNECTIVITY",
    "REMOVE_SAP",
    "ADD_NESTED_NS",
    "REMOVE_NESTED_NS",
    "ASSOC_NEW_NSD_VERSION",
    "MOVE_VNF",
    "ADD_VNFFG",
    "REMOVE_VNFFG",
    "UPDATE_VNFFG",
    "CHANGE_NS_DF",
    "ADD_PNF",
    "MODIFY_PNF",
    "REMOVE_PNF",
    "ADD_SAP",
]


class UpdateNsRequest(_In):
    update_type: UpdateType = Field(alias="updateType")
    modify_vnf_info_data: list[ModifyVnfInfoData] | None = Field(None, alias="modifyVnfInfoData")


class HealNsData(_In):
    degree_healing: Literal["HEAL_RESTORE", "HEAL_QOS", "HEAL_RESET", "PARTIAL_HEALING"] = Field(
        alias="degreeHealing"
    )


class HealNsRequest(_In):
    heal_ns_data: HealNsData | None = Field(None, alias="healNsData")


class TerminateNsRequest(_In):
    termination_time: datetime | None = Field(None, alias="terminationTime")


class CancelMode(_In):
    cancel_mode: Literal["GRACEFUL", "FORCEFUL"] = Field(alias="cancelMode")


# ------------------------------------------------------------------ NsInstance


class VnfInstanceInfo(_Out):
    id: str
    vnf_instance_name: str = Field(alias="vnfInstanceName")
    vnfd_id: str = Field(alias="vnfdId")
    vnf_provider: str = Field(alias="vnfProvider")
    vnf_product_name: str = Field(alias="vnfProductName")
    vnf_software_version: str = Field(alias="vnfSoftwareVersion")
    vnfd_version: str = Field(alias="vnfdVersion")
    vnf_pkg_id: str = Field(alias="vnfPkgId")
    vnf_configurable_properties: dict[str, Any] = Field(alias="vnfConfigurableProperties")
    instantiation_state: Literal["NOT_INSTANTIATED", "INSTANTIATED"] = Field(
        alias="instantiationState"
    )
    metadata: dict[str, Any]


class NsInstanceLinks(_Out):
    self: Link
    instantiate: Link | None = None
    terminate: Link | None = None
    update: Link | None = None
    heal: Link | None = None


class NsInstanceInfo(_Out):
    id: str
    ns_instance_name: str = Field(alias="nsInstanceName")
    ns_instance_description: str = Field(alias="nsInstanceDescription")
    nsd_id: str = Field(alias="nsdId")
    nsd_info_id: str = Field(alias="nsdInfoId")
    vnf_instance: list[VnfInstanceInfo] | None = Field(None, alias="vnfInstance")
    ns_state: Literal["NOT_INSTANTIATED", "INSTANTIATED"] = Field(alias="nsState")
    links: NsInstanceLinks = Field(alias="_links")


def ns_attributes() -> dict[str, ColumnElement[Any]]:
    return {
        "id": NsInstance.id,  # type: ignore[dict-item]
        "nsInstanceName": NsInstance.name,  # type: ignore[dict-item]
        "nsInstanceDescription": NsInstance.description,  # type: ignore[dict-item]
        "nsdInfoId": NsInstance.nsd_id,  # type: ignore[dict-item]
        "nsState": NsInstance.ns_state,  # type: ignore[dict-item]
    }


def _vnf(v: VnfInstance, packages: dict[str, VnfPackage], source: dict[str, Any]) -> Any:
    vnfd_id = source.get("vnfd_id")
    pkg = packages.get(vnfd_id) if vnfd_id else None
    return {
        "id": v.id,
        "vnfInstanceName": v.name,
        "vnfdId": vnfd_id or f"cloudcpe/{v.function}",
        "vnfProvider": (pkg.vnf_provider if pkg else None) or "cloudcpe",
        "vnfProductName": (pkg.vnf_product_name if pkg else None) or v.function,
        "vnfSoftwareVersion": (pkg.vnf_software_version if pkg else None) or "1.0",
        "vnfdVersion": (pkg.vnfd_version if pkg else None) or "1.0",
        "vnfPkgId": pkg.id if pkg else "",
        "vnfConfigurableProperties": v.params,
        "instantiationState": "INSTANTIATED",
        "metadata": {
            "function": v.function,
            "position": v.position,
            "hostId": v.host_id,
            **({"vdu": source["vdu"]} if "vdu" in source else {}),
        },
    }


def present_ns_instances(
    session: Session, rows: Sequence[NsInstance], base: str
) -> list[NsInstanceInfo]:
    """The SOL005 NsInstance of each row (a few queries for the whole batch)."""
    ns_ids = [ns.id for ns in rows]
    nsd_ids = sorted({ns.nsd_id for ns in rows})
    nsds = {
        d.id: d for d in session.scalars(select(NsDescriptor).where(NsDescriptor.id.in_(nsd_ids)))
    }
    packages: dict[tuple[str, str], VnfPackage] = {}
    for nsd_id, pkg in session.execute(
        select(NsdVnfPackage.nsd_id, VnfPackage)
        .join(VnfPackage, VnfPackage.id == NsdVnfPackage.vnf_package_id)
        .where(NsdVnfPackage.nsd_id.in_(nsd_ids))
    ):
        if pkg.vnfd_id:
            packages[(nsd_id, pkg.vnfd_id)] = pkg
    vnfs: dict[str, list[VnfInstance]] = {i: [] for i in ns_ids}
    for v in session.scalars(
        select(VnfInstance)
        .where(VnfInstance.ns_instance_id.in_(ns_ids))
        .order_by(VnfInstance.position)
    ):
        vnfs[v.ns_instance_id].append(v)
    out = []
    for ns in rows:
        nsd = nsds[ns.nsd_id]
        sources = {el["name"]: el.get("source") or {} for el in nsd.chain}
        own = {vnfd: p for (n, vnfd), p in packages.items() if n == nsd.id}
        href = f"{base}{NSLCM}/ns_instances/{ns.id}"
        instantiated = ns.ns_state == "INSTANTIATED"
        links: dict[str, Any] = {"self": {"href": href}}
        if instantiated:
            links |= {k: {"href": f"{href}/{k}"} for k in ("terminate", "update", "heal")}
        else:
            links["instantiate"] = {"href": f"{href}/instantiate"}
        doc: dict[str, Any] = {
            "id": ns.id,
            "nsInstanceName": ns.name,
            "nsInstanceDescription": ns.description,
            "nsdId": nsd.nsd_id or nsd.id,
            "nsdInfoId": nsd.id,
            "nsState": ns.ns_state,
            "_links": links,
        }
        if vnfs[ns.id]:
            doc["vnfInstance"] = [_vnf(v, own, sources.get(v.name, {})) for v in vnfs[ns.id]]
        out.append(NsInstanceInfo.model_validate(doc))
    return out


# ------------------------------------------------------------------ NsLcmOpOcc


class OpOccLinks(_Out):
    self: Link
    ns_instance: Link = Field(alias="nsInstance")
    cancel: Link | None = None
    retry: Link | None = None
    rollback: Link | None = None
    fail: Link | None = None


class NsLcmOpOcc(_Out):
    id: str
    operation_state: Literal[
        "PROCESSING", "COMPLETED", "FAILED_TEMP", "FAILED", "ROLLING_BACK", "ROLLED_BACK"
    ] = Field(alias="operationState")
    state_entered_time: datetime = Field(alias="stateEnteredTime")
    ns_instance_id: str = Field(alias="nsInstanceId")
    lcm_operation_type: Literal["INSTANTIATE", "SCALE", "UPDATE", "TERMINATE", "HEAL"] = Field(
        alias="lcmOperationType"
    )
    start_time: datetime = Field(alias="startTime")
    is_automatic_invocation: bool = Field(alias="isAutomaticInvocation")
    operation_params: dict[str, Any] = Field(alias="operationParams")
    is_cancel_pending: bool = Field(alias="isCancelPending")
    cancel_mode: Literal["GRACEFUL", "FORCEFUL"] | None = Field(None, alias="cancelMode")
    error: ProblemDetails | None = None
    links: OpOccLinks = Field(alias="_links")

    @field_serializer("state_entered_time", "start_time")
    def _times(self, dt: datetime) -> datetime:
        return _utc(dt)


def op_attributes() -> dict[str, ColumnElement[Any]]:
    return {
        "id": LcmOperation.id,  # type: ignore[dict-item]
        "operationState": LcmOperation.operation_state,  # type: ignore[dict-item]
        "nsInstanceId": LcmOperation.ns_instance_id,  # type: ignore[dict-item]
        "lcmOperationType": LcmOperation.operation,  # type: ignore[dict-item]
    }


def present_op(op: LcmOperation, base: str) -> NsLcmOpOcc:
    href = f"{base}{NSLCM}/ns_lcm_op_occs/{op.id}"
    links: dict[str, Any] = {
        "self": {"href": href},
        "nsInstance": {"href": f"{base}{NSLCM}/ns_instances/{op.ns_instance_id}"},
    }
    state = op.operation_state
    if state in ("PROCESSING", "ROLLING_BACK") and not op.is_cancel_pending:
        links["cancel"] = {"href": f"{href}/cancel"}
    if state == "FAILED_TEMP":
        links["retry"] = {"href": f"{href}/retry"}
        links["fail"] = {"href": f"{href}/fail"}
        if op.operation not in ("TERMINATE", "HEAL"):
            links["rollback"] = {"href": f"{href}/rollback"}
    error = None
    if op.error:
        error = {
            "status": int(op.error.get("status", 500)),
            "title": op.error.get("title"),
            "detail": str(op.error.get("detail", "")),
        }
    return NsLcmOpOcc.model_validate(
        {
            "id": op.id,
            "operationState": state,
            "stateEnteredTime": op.state_entered_time,
            "nsInstanceId": op.ns_instance_id,
            "lcmOperationType": op.operation,
            "startTime": op.start_time,
            "isAutomaticInvocation": False,
            "operationParams": op.operation_params,
            "isCancelPending": op.is_cancel_pending,
            "cancelMode": op.cancel_mode,
            "error": error,
            "_links": links,
        }
    )


# ------------------------------------------------------------------ SOL005 requests -> domain


def visible_ns_stmt(who: Principal) -> Select[NsInstance]:
    return who.scoped(select(NsInstance), NsInstance.tenant_id)


def visible_op_stmt(who: Principal) -> Select[LcmOperation]:
    return who.scoped(select(LcmOperation), LcmOperation.tenant_id)


def _nsd_info_id(session: Session, who: Principal, ref: str) -> str:
    """CreateNsRequest.nsdId names the NSD (its nsdId); the NsdInfo id is accepted too."""
    if session.get(NsDescriptor, ref) is not None:
        return ref
    stmt = select(NsDescriptor.id).where(NsDescriptor.nsd_id == ref)
    if not who.is_operator:
        stmt = stmt.where(
            or_(NsDescriptor.tenant_id.is_(None), NsDescriptor.tenant_id == who.tenant_id)
        )
    found = list(session.scalars(stmt.order_by(NsDescriptor.created_at.desc())))
    return found[0] if found else ref


def create(session: Session, who: Principal, data: CreateNsRequest) -> NsInstance:
    ext = data.additional_params
    request = NsInstanceCreate(
        name=data.ns_name,
        site_id=ext.site_id,
        nsd_id=_nsd_info_id(session, who, data.nsd_id),
        description=data.ns_description,
        vnf_params=ext.vnf_params,
    )
    try:
        return service.create_ns_instance(session, who, request)
    except Invalid as exc:
        rename: dict[str | int, list[str | int]] = {
            "site_id": ["additionalParams", "siteId"],
            "nsd_id": ["nsdId"],
            "vnf_params": ["additionalParams", "vnfParams"],
        }

        def loc(e: FieldError) -> list[str | int]:
            out: list[str | int] = []
            for part in e.loc[1:] if e.loc[:1] == ["body"] else e.loc:
                out += rename.get(part, [part])
            return out

        raise Invalid([FieldError(loc(e), e.msg) for e in exc.errors]) from None


def update(session: Session, who: Principal, ns_id: str, data: UpdateNsRequest) -> LcmOperation:
    """MODIFY_VNF_INFORMATION: new `vnfConfigurableProperties` of VNF instances (their
    function parameters, e.g. firewall rules), re-rendered and applied. Other update types
    are not supported (400 saying so)."""
    ns = service.get_ns_instance(session, who, ns_id)
    if data.update_type != "MODIFY_VNF_INFORMATION":
        raise Invalid.at(
            ["updateType"],
            f"{data.update_type} is not supported; cloudcpe supports MODIFY_VNF_INFORMATION",
        )
    if not data.modify_vnf_info_data:
        raise Invalid.at(["modifyVnfInfoData"], "MODIFY_VNF_INFORMATION needs modifyVnfInfoData")
    vnfs = {v.id: v for v in service.vnf_instances(session, ns)}
    params: dict[str, dict[str, Any]] = {}
    errors: list[FieldError] = []
    for i, item in enumerate(data.modify_vnf_info_data):
        vnf = vnfs.get(item.vnf_instance_id)
        if vnf is None:
            where: list[str | int] = ["modifyVnfInfoData", i, "vnfInstanceId"]
            errors.append(FieldError(where, "no such VNF instance in this NS instance"))
        elif item.vnf_configurable_properties is not None:
            params[vnf.name] = {**params.get(vnf.name, {}), **item.vnf_configurable_properties}
    if errors:
        raise Invalid(errors)
    if not params:
        raise Invalid.at(["modifyVnfInfoData"], "no vnfConfigurableProperties to change")
    try:
        return service.update(session, who, ns_id, UpdateRequest(vnf_params=params))
    except Invalid as exc:
        by_name = {v.name: v.id for v in vnfs.values()}

        def loc(e: FieldError) -> list[str | int]:
            rest = e.loc[2:] if e.loc[:2] == ["body", "vnf_params"] else e.loc
            if not rest:
                return ["modifyVnfInfoData"]
            vnf_id = by_name.get(str(rest[0]), str(rest[0]))
            return ["modifyVnfInfoData", vnf_id, "vnfConfigurableProperties", *rest[1:]]

        raise Invalid([FieldError(loc(e), e.msg) for e in exc.errors]) from None
