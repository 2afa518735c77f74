"""OAuth 2.0 client credentials (RFC 6749 4.4, as SOL013 8.2 uses it) for machine clients.

Operator admins create clients (`/api/v1/oauth2_clients`), each with a role and, for a tenant
role, its tenant; the secret is shown once and stored as a hash. A client exchanges its id
and secret (HTTP Basic) at `POST /oauth2/token` (`grant_type=client_credentials`) for a
short-lived bearer token, accepted by every API like any other token, acting with the
client's role and tenant. Disabling a client stops its tokens at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloudcpe.auth.principal import OPERATOR_ROLES, Principal, Role
from cloudcpe.errors import DomainError, Invalid, NotFound
from cloudcpe.inventory.models import Tenant
from cloudcpe.store.base import Base, IdMixin, utcnow

TOKEN_PREFIX = "ccpo_"
TOKEN_LIFETIME = timedelta(minutes=5)


class OAuth2Client(IdMixin, Base):
    __tablename__ = "oauth2_client"

    name: Mapped[str] = mapped_column(String(63))
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class OAuth2Token(Base):
    __tablename__ = "oauth2_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth2_client.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]


class OAuth2ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    role: Role
    tenant_id: str | None = None


class OAuth2ClientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="the client_id")
    name: str
    role: str
    tenant_id: str | None
    disabled: bool
    created_at: datetime


class OAuth2ClientCreated(OAuth2ClientPublic):
    client_secret: str = Field(description="shown once")


class OAuth2Error(DomainError):
    """RFC 6749 5.2: answered as {"error": code, "error_description": detail}."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        super().__init__(detail)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def create_client(
    session: Session, who: Principal, data: OAuth2ClientCreate
) -> tuple[OAuth2Client, str]:
    who.require_operator("creating OAuth2 clients")
    if who.role != "operator_admin":
        raise Invalid.at(["body"], "creating OAuth2 clients needs operator_admin")
    operator_role = data.role in OPERATOR_ROLES
    if operator_role and data.tenant_id is not None:
        raise Invalid.at(["body", "tenant_id"], f"role {data.role} has no tenant")
    if not operator_role and (
        data.tenant_id is None or session.get(Tenant, data.tenant_id) is None
    ):
        raise Invalid.at(["body", "tenant_id"], f"role {data.role} needs an existing tenant")
    secret = secrets.token_urlsafe(32)
    client = OAuth2Client(
        name=data.name, secret_hash=_hash(secret), role=data.role, tenant_id=data.tenant_id
    )
    session.add(client)
    session.flush()
    return client, secret


def list_clients(session: Session, who: Principal) -> list[OAuth2Client]:
    who.require_operator("listing OAuth2 clients")
    return list(session.scalars(select(OAuth2Client).order_by(OAuth2Client.created_at)))


def disable_client(session: Session, who: Principal, client_id: str) -> OAuth2Client:
    who.require_operator("disabling OAuth2 clients")
    client = session.get(OAuth2Client, client_id)
    if client is None:
        raise NotFound("OAuth2 client", client_id)
    if who.role != "operator_admin":
        raise Invalid.at(["path"], "disabling OAuth2 clients needs operator_admin")
    client.disabled = True
    return client


def _basic(authorization: str | None) -> tuple[str, str]:
    if not authorization or not authorization.lower().startswith("basic "):
        raise OAuth2Error(401, "invalid_client", "client authentication (HTTP Basic) is required")
    try:
        raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuth2Error(401, "invalid_client", "malformed Basic credentials") from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise OAuth2Error(401, "invalid_client", "malformed Basic credentials")
    return client_id, secret


def issue_token(
    session: Session, authorization: str | None, grant_type: str | None
) -> dict[str, object]:
    client_id, secret = _basic(authorization)
    client = session.get(OAuth2Client, client_id)
    if (
        client is None
        or client.disabled
        or not hmac.compare_digest(client.secret_hash, _hash(secret))
    ):
        raise OAuth2Error(401, "invalid_client", "unknown client or wrong secret")
    if grant_type != "client_credentials":
        raise OAuth2Error(
            400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        OAuth2Token(
            token_hash=_hash(token), client_id=client.id, expires_at=utcnow() + TOKEN_LIFETIME
        )
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(TOKEN_LIFETIME.total_seconds()),
    }


def resolve(session: Session, token: str) -> Principal | None:
    row = session.get(OAuth2Token, _hash(token))
    if row is None:
        return None
    expires = row.expires_at
    if expires.tzinfo is None:  # SQLite hands back naive datetimes; stored times are UTC
        expires = expires.replace(tzinfo=UTC)
    if expires <= utcnow():
        return None
    client = session.get(OAuth2Client, row.client_id)
    if client is None or client.disabled:
        return None
    return Principal(name=f"oauth2:{client.name}", tenant_id=client.tenant_id, role=client.role)  # type: ignore[arg-type]
