"""API schemas of NS instances and LCM operations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from cloudcpe.inventory.schemas import Name

FINAL_STATES = ("COMPLETED", "FAILED", "ROLLED_BACK")
OPEN_STATES = ("PROCESSING", "FAILED_TEMP", "ROLLING_BACK")


class NsInstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    site_id: str
    nsd_id: str
    description: str = Field("", max_length=500)
    vnf_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="parameter overrides per function name of the chain, e.g. {'fw': {...}}",
    )


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vnf_params: dict[str, dict[str, Any]] = Field(
        min_length=1, description="new parameters per function name, e.g. firewall rules"
    )


class VnfInstancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    function: str
    position: int
    host_id: str
    params: dict[str, Any]


class NsInstancePublic(BaseModel):
    id: str
    tenant_id: str
    site_id: str
    nsd_id: str
    name: str
    description: str
    ns_state: str
    vnf_params: dict[str, Any]
    vnf_instances: list[VnfInstancePublic]
    created_at: datetime


def _utc(dt: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class LcmOperationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    ns_instance_id: str
    operation: str
    operation_state: str
    operation_params: dict[str, Any]
    current_step: str | None
    steps_done: list[str]
    error: dict[str, Any] | None
    start_time: datetime
    state_entered_time: datetime

    @field_serializer("start_time", "state_entered_time")
    def _times(self, dt: datetime) -> datetime | None:
        return _utc(dt)
