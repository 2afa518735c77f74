"""API schemas of users, tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from cloudcpe.auth.passwords import MIN_LENGTH
from cloudcpe.auth.principal import Role
from cloudcpe.inventory.schemas import Name


def _utc(dt: datetime | None) -> datetime | None:
    from cloudcpe.auth.service import aware

    return aware(dt)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    password: str = Field(min_length=MIN_LENGTH, max_length=200)
    role: Role
    tenant_id: str | None = Field(
        None, description="the tenant of a tenant role; tenant admins: their own"
    )


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool | None = None
    password: str | None = Field(None, min_length=MIN_LENGTH, max_length=200)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: str
    tenant_id: str | None
    disabled: bool
    created_at: datetime

    @field_serializer("created_at")
    def _t(self, dt: datetime) -> datetime | None:
        return _utc(dt)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    expires_in_days: int | None = Field(90, ge=1, le=3650, description="None: never expires")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    user_id: str | None
    tenant_id: str | None
    revoked: bool
    expires_at: datetime | None
    created_at: datetime

    @field_serializer("created_at", "expires_at")
    def _t(self, dt: datetime | None) -> datetime | None:
        return _utc(dt)


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; only its hash is stored")


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: datetime
    actor: str
    actor_role: str
    source: str
    request: str
    tenant_id: str | None
    change: str
    object_type: str
    object_id: str
    details: dict[str, Any]

    @field_serializer("created_at")
    def _t(self, dt: datetime) -> datetime | None:
        return _utc(dt)
