"""Users, API tokens, web sessions and the audit log. Secrets are stored as hashes only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin, utcnow


class User(IdMixin, Base):
    """A person who logs in to the portals (and may own API tokens)."""

    __tablename__ = "user_account"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    # operator_admin | operator | tenant_admin | tenant_user
    role: Mapped[str] = mapped_column(String(20))
    # None for the operator roles; the tenant of a tenant role
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(IdMixin, Base):
    __tablename__ = "api_token"

    name: Mapped[str] = mapped_column(String(63))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None: an operator token (sees everything); else the tenant it is scoped to
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # a user's token acts with that user's role (read live: disabling the user stops it);
    # a token without a user (`cloudcpe token create`) is operator_admin or tenant_admin
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True, index=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebSession(Base):
    """A portal login. The cookie carries the session secret; only its hash is stored."""

    __tablename__ = "web_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64), default="")


class AuditEntry(IdMixin, Base):
    """One change: who, when (created_at), what, from where. Written in the change's
    own transaction, so a change without its audit entry cannot be committed."""

    __tablename__ = "audit_entry"

    actor: Mapped[str] = mapped_column(String(63))
    actor_role: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source: Mapped[str] = mapped_column(String(64))  # client address, or "cli"
    request: Mapped[str] = mapped_column(String(200))  # e.g. "POST /api/v1/sites"
    # the tenant the changed object belongs to (None: operator-wide objects)
    tenant_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    change: Mapped[str] = mapped_column(String(10))  # create | update | delete
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
