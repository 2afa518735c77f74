"""API tokens. Only a hash is stored; the token is shown once when created."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudcpe.store.base import Base, IdMixin


class ApiToken(IdMixin, Base):
    __tablename__ = "api_token"

    name: Mapped[str] = mapped_column(String(63))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None: an operator token (sees everything); else the tenant it is scoped to
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), nullable=True, index=True
    )
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
