"""Create, resolve and revoke API tokens."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.auth.models import ApiToken
from cloudcpe.auth.principal import Principal
from cloudcpe.inventory.models import Tenant

TOKEN_PREFIX = "ccpe_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, tenant: Tenant | None) -> str:
    """Returns the token in clear text; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(name=name, token_hash=_hash(token), tenant_id=tenant.id if tenant else None)
    )
    session.flush()
    return token


def resolve(session: Session, token: str) -> Principal | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _hash(token), ApiToken.revoked.is_(False))
    )
    if row is None:
        return None
    return Principal(name=row.name, tenant_id=row.tenant_id)
