"""Users: create, list, disable, authenticate; the first operator admin."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.models import ApiToken, User, WebSession
from cloudcpe.auth.passwords import hash_password, verify_password
from cloudcpe.auth.principal import OPERATOR_ROLES, Principal
from cloudcpe.auth.schemas import UserCreate, UserUpdate
from cloudcpe.errors import Conflict, Forbidden, Invalid, NotFound
from cloudcpe.inventory.models import Tenant

# a constant-time answer for unknown names: verify against a real hash either way
_DUMMY_HASH = hash_password("not-a-password-of-anyone")


def _may_read_users(who: Principal) -> bool:
    return who.is_operator or who.can("manage_tenant")


def list_users(session: Session, who: Principal) -> list[User]:
    if not _may_read_users(who):
        who.require("manage_tenant", "listing users")
    stmt = who.scoped(select(User).order_by(User.name), User.tenant_id)
    return list(session.scalars(stmt))


def get_user(session: Session, who: Principal, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or not who.can_see(user.tenant_id) or not _may_read_users(who):
        if user is not None and user.id == who.user_id:
            return user
        raise NotFound("user", user_id)
    return user


def create_user(session: Session, who: Principal, data: UserCreate) -> User:
    who.require("manage_tenant", "creating a user")
    if data.role in OPERATOR_ROLES:
        if not who.is_operator:
            raise Forbidden("only an operator admin creates operator users")
        if data.tenant_id is not None:
            raise Invalid.at(["body", "tenant_id"], "operator users belong to no tenant")
        tenant_id = None
    else:
        tenant_id = data.tenant_id if who.is_operator else who.tenant_id
        if not who.is_operator and data.tenant_id not in (None, who.tenant_id):
            raise Invalid.at(["body", "tenant_id"], "no such tenant")
        if tenant_id is None:
            raise Invalid.at(["body", "tenant_id"], "required for a tenant role")
        if session.get(Tenant, tenant_id) is None:
            raise Invalid.at(["body", "tenant_id"], "no such tenant")
    if session.scalar(select(User.id).where(User.name == data.name)):
        raise Conflict(f"user {data.name!r} already exists")
    user = User(
        name=data.name,
        password_hash=hash_password(data.password),
        role=data.role,
        tenant_id=tenant_id,
    )
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, who: Principal, user_id: str, data: UserUpdate) -> User:
    user = get_user(session, who, user_id)
    if user.id != who.user_id:
        who.require("manage_tenant", "changing another user")
    if data.disabled is not None:
        if user.id == who.user_id:
            raise Conflict("you cannot disable yourself")
        user.disabled = data.disabled
        if data.disabled:
            for ws in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
                session.delete(ws)
            for tok in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
                tok.revoked = True
    if data.password is not None:
        user.password_hash = hash_password(data.password)
    session.flush()
    return user


def authenticate(session: Session, name: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled:
        return None
    return user


def create_first_admin(session: Session, name: str, password: str) -> User:
    """The CLI's and the demo's way in: an operator admin, no caller needed."""
    from cloudcpe.auth.principal import OPERATOR

    return create_user(
        session, OPERATOR, UserCreate(name=name, password=password, role="operator_admin")
    )
