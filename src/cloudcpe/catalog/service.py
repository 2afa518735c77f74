"""Catalog services: the function catalog and network service descriptors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.catalog.models import ENABLED, ONBOARDED, NsDescriptor
from cloudcpe.catalog.schemas import ChainElement, NsDescriptorCreate
from cloudcpe.catalog.storage import PackageStore
from cloudcpe.errors import Conflict, FieldError, Invalid, NotFound
from cloudcpe.functions import all_kinds, get_kind
from cloudcpe.inventory.service import owning_tenant
from cloudcpe.lcm.render import max_chain_length
from cloudcpe.store.base import new_id


def list_functions() -> list[dict[str, Any]]:
    return [
        {"name": k.name, "description": k.description, "params_schema": k.schema()}
        for k in all_kinds()
    ]


def validate_params(
    function: str, params: dict[str, Any], loc: Sequence[str | int]
) -> list[FieldError]:
    """Errors of one function's parameters, each located under `loc`."""
    try:
        get_kind(function).parse(params)
    except ValidationError as exc:
        return [FieldError([*loc, *e["loc"]], e["msg"]) for e in exc.errors()]
    return []


def validate_chain(chain: Sequence[ChainElement], loc: Sequence[str | int]) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(chain) > max_chain_length():
        errors.append(FieldError(loc, f"at most {max_chain_length()} functions per chain"))
    seen: set[str] = set()
    for i, el in enumerate(chain):
        if el.name in seen:
            errors.append(FieldError([*loc, i, "name"], f"duplicate function name {el.name!r}"))
        seen.add(el.name)
        try:
            get_kind(el.function)
        except LookupError as exc:
            errors.append(FieldError([*loc, i, "function"], str(exc)))
            continue
        errors += validate_params(el.function, el.params, [*loc, i, "params"])
        known = get_kind(el.function).schema().get("properties", {})
        for j, param in enumerate(el.customer_params):
            if param not in known:
                errors.append(
                    FieldError(
                        [*loc, i, "customer_params", j],
                        f"{el.function} has no parameter {param!r}; it has {sorted(known)}",
                    )
                )
    return errors


def create_descriptor(session: Session, who: Principal, data: NsDescriptorCreate) -> NsDescriptor:
    who.require("manage_tenant", "creating a descriptor")
    if data.tenant_id is None and who.is_operator:
        who.require("operate", "publishing a descriptor for every tenant")
    errors = validate_chain(data.chain, ["body", "chain"])
    if errors:
        raise Invalid(errors)
    tenant_id = (
        None
        if who.is_operator and data.tenant_id is None
        else owning_tenant(session, who, data.tenant_id)
    )
    clash = select(NsDescriptor.id).where(
        NsDescriptor.name == data.name,
        NsDescriptor.version == data.version,
        NsDescriptor.tenant_id.is_(None)
        if tenant_id is None
        else NsDescriptor.tenant_id == tenant_id,
    )
    if session.scalar(clash):
        raise Conflict(f"descriptor {data.name!r} version {data.version!r} already exists")
    ident = new_id()
    nsd = NsDescriptor(
        id=ident,
        tenant_id=tenant_id,
        name=data.name,
        version=data.version,
        description=data.description,
        chain=[el.model_dump() for el in data.chain],
        source="chain",
        nsd_id=ident,
        nsd_name=data.name,
        invariant_id=ident,
        onboarding_state=ONBOARDED,
        operational_state=ENABLED,
    )
    session.add(nsd)
    session.flush()
    return nsd


def _visible(who: Principal) -> Any:
    if who.is_operator:
        return True
    return or_(NsDescriptor.tenant_id.is_(None), NsDescriptor.tenant_id == who.tenant_id)


def list_descriptors(session: Session, who: Principal) -> list[NsDescriptor]:
    """The onboarded descriptors (SOL005 NSDs still being onboarded are not listed here)."""
    stmt = (
        select(NsDescriptor)
        .where(_visible(who), NsDescriptor.onboarding_state == ONBOARDED)
        .order_by(NsDescriptor.name, NsDescriptor.version)
    )
    return list(session.scalars(stmt))


def get_descriptor(session: Session, who: Principal, nsd_id: str) -> NsDescriptor:
    nsd = session.get(NsDescriptor, nsd_id)
    if nsd is None or not (who.is_operator or nsd.tenant_id in (None, who.tenant_id)):
        raise NotFound("NS descriptor", nsd_id)
    return nsd


def require_usable(nsd: NsDescriptor) -> None:
    """NS instances are made from onboarded, enabled descriptors only (SOL005)."""
    if nsd.onboarding_state != ONBOARDED or nsd.operational_state != ENABLED:
        raise Invalid.at(
            ["body", "nsd_id"],
            f"the descriptor is {nsd.onboarding_state} and {nsd.operational_state}; "
            "NS instances need an ONBOARDED and ENABLED one",
        )


def delete_descriptor(
    session: Session, who: Principal, nsd_id: str, store: PackageStore | None = None
) -> None:
    from cloudcpe.lcm.models import NsInstance

    nsd = get_descriptor(session, who, nsd_id)
    who.require("manage_tenant", "deleting a descriptor")
    if nsd.tenant_id is None:
        who.require_operator("deleting a published descriptor")
    if session.scalar(select(NsInstance.id).where(NsInstance.nsd_id == nsd.id)):
        raise Conflict("descriptor is in use by NS instances")
    session.delete(nsd)
    session.flush()
    if store is not None:
        store.remove(store.nsd(nsd.id))
