"""Create, resolve and revoke API tokens. A user's token acts with that user's role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth import oauth2
from cloudcpe.auth.models import ApiToken, User
from cloudcpe.auth.principal import Principal
from cloudcpe.errors import NotFound
from cloudcpe.inventory.models import Tenant
from cloudcpe.store.base import utcnow

TOKEN_PREFIX = "ccpe_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def create_token(
    session: Session,
    name: str,
    tenant: Tenant | None,
    *,
    user: User | None = None,
    expires_in: timedelta | None = None,
) -> str:
    """Returns the token in clear text; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_hash=_hash(token),
            tenant_id=user.tenant_id if user else (tenant.id if tenant else None),
            user_id=user.id if user else None,
            expires_at=utcnow() + expires_in if expires_in else None,
        )
    )
    session.flush()
    return token


def issue_user_token(
    session: Session, user: User, name: str, expires_in: timedelta | None
) -> tuple[str, ApiToken]:
    """A token acting as `user`; returns (clear text shown once, the stored row)."""
    token = create_token(session, name, None, user=user, expires_in=expires_in)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    assert row is not None
    return token, row


def principal_of(user: User) -> Principal:
    return Principal(name=user.name, tenant_id=user.tenant_id, role=user.role, user_id=user.id)  # type: ignore[arg-type]


def resolve(session: Session, token: str) -> Principal | None:
    if token.startswith(oauth2.TOKEN_PREFIX):  # a client-credentials token (auth/oauth2.py)
        return oauth2.resolve(session, token)
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _hash(token), ApiToken.revoked.is_(False))
    )
    if row is None:
        return None
    expires = aware(row.expires_at)
    if expires is not None and expires <= utcnow():
        return None
    if row.user_id is not None:
        user = session.get(User, row.user_id)
        if user is None or user.disabled:
            return None
        return principal_of(user)
    return Principal(name=row.name, tenant_id=row.tenant_id)  # operator_admin / tenant_admin


def list_tokens(session: Session, who: Principal) -> list[ApiToken]:
    """A user's own tokens; an operator admin sees every token."""
    stmt = select(ApiToken).order_by(ApiToken.created_at)
    if who.role != "operator_admin":
        stmt = stmt.where(ApiToken.user_id == who.user_id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, who: Principal, token_id: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or not (who.role == "operator_admin" or row.user_id == who.user_id):
        raise NotFound("token", token_id)
    row.revoked = True
    session.flush()
    return row
