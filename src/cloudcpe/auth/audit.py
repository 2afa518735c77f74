"""The audit log: every change made on behalf of someone, in the change's own transaction.

A request (API or portal) names its actor on its database session (`attach`); a
`before_flush` hook then adds one `AuditEntry` per created, changed or deleted domain object
to the same flush, so the change and its audit entry commit or roll back together. Changes
by the LCM worker itself (step progress) carry no actor and are not audited here: the
operation row is their record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from cloudcpe.auth.models import ApiToken, AuditEntry, User
from cloudcpe.auth.principal import Principal
from cloudcpe.store.base import new_id

_KEY = "cloudcpe.audit_actor"
# never copied into the log
_SECRET = {"password_hash", "token_hash", "csrf_token", "activation_code_hash", "credential_hash"}
# objects whose changes are not "changes by someone": sessions, the log itself, LCM internals
_SKIP = {"WebSession", "AuditEntry", "VnfInstance", "HostDocument"}


@dataclass(frozen=True)
class Actor:
    principal: Principal
    source: str  # the client address, or "cli"
    request: str  # "POST /api/v1/sites"


def attach(session: Session, actor: Actor) -> None:
    session.info[_KEY] = actor


def actor_of(session: Session) -> Actor | None:
    actor: Actor | None = session.info.get(_KEY)
    return actor


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def _tenant_of(obj: Any) -> str | None:
    if type(obj).__name__ == "Tenant":
        return str(obj.id)
    tenant = getattr(obj, "tenant_id", None)
    return str(tenant) if tenant is not None else None


def _label(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in ("name", "operation", "operation_state", "role", "version"):
        value = getattr(obj, attr, None)
        if value is not None:
            out[attr] = _jsonable(value)
    return out


def _changes(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in _SECRET:
            if state.attrs[attr.key].history.has_changes():
                out[attr.key] = "(changed)"
            continue
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            out[attr.key] = _jsonable(hist.added[0] if hist.added else None)
    return out


def _entry(actor: Actor, change: str, obj: Any, details: dict[str, Any]) -> AuditEntry:
    if getattr(obj, "id", None) is None:
        obj.id = new_id()
    who = actor.principal
    return AuditEntry(
        actor=who.name,
        actor_role=who.role,
        user_id=who.user_id,
        source=actor.source[:64],
        request=actor.request[:200],
        tenant_id=_tenant_of(obj),
        change=change,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "id", "")),
        details=details,
    )


@event.listens_for(Session, "before_flush")
def _audit(session: Session, _ctx: Any, _instances: Any) -> None:
    actor = actor_of(session)
    if actor is None:
        return
    entries: list[AuditEntry] = []
    for obj in list(session.new):
        if type(obj).__name__ not in _SKIP:
            entries.append(_entry(actor, "create", obj, _label(obj)))
    for obj in list(session.dirty):
        if type(obj).__name__ in _SKIP or not session.is_modified(obj):
            continue
        changes = _changes(obj)
        if changes:
            entries.append(_entry(actor, "update", obj, {**_label(obj), "changed": changes}))
    for obj in list(session.deleted):
        if type(obj).__name__ not in _SKIP:
            entries.append(_entry(actor, "delete", obj, _label(obj)))
    session.add_all(entries)


def list_entries(session: Session, who: Principal, limit: int = 200) -> list[AuditEntry]:
    """Operator admins see every entry; a tenant admin those of their own tenant."""
    who.require("audit", "reading the audit log")
    stmt = who.scoped(select(AuditEntry), AuditEntry.tenant_id)
    return list(session.scalars(stmt.order_by(AuditEntry.created_at.desc()).limit(limit)))


__all__ = ["Actor", "ApiToken", "User", "attach", "list_entries"]
