"""API schemas of the inventory: tenants, sites, devices, POPs and compute nodes."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

Name = Field(
    min_length=1,
    max_length=63,
    pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
    description="lower-case letters, digits and dashes",
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Timed(_Out):
    created_at: datetime

    @field_serializer("created_at")
    def _utc(self, dt: datetime) -> datetime:
        # SQLite hands back naive datetimes; every stored time is UTC
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class TenantCreate(_In):
    name: str = Name
    description: str = Field("", max_length=500)


class TenantPublic(_Out):
    id: str
    name: str
    description: str
    created_at: datetime


class SiteCreate(_In):
    name: str = Name
    tenant_id: str | None = Field(None, description="required for operator tokens")
    kind: Literal["on_premise", "cloud"] = "on_premise"
    lan_prefix: IPv4Network = Field(description="the site LAN, e.g. 192.168.10.0/24")
    pop_id: str | None = Field(
        None, description="cloud sites: the POP whose compute nodes run the site's services"
    )
    description: str = Field("", max_length=500)


class SitePublic(_Out):
    id: str
    tenant_id: str
    name: str
    kind: str
    lan_prefix: str
    pop_id: str | None
    description: str
    created_at: datetime


class DeviceCreate(_In):
    name: str = Name
    serial: str = Field(min_length=1, max_length=63)
    site_id: str = Field(description="the site this device serves")
    model: str = Field("linux-cpe", max_length=63)
    wan_address: IPv4Interface = Field(description="the site's public address, e.g. 203.0.113.2/24")
    wan_gateway: IPv4Address
    lan_port: str = Field("ccpe-lan", pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    wan_port: str = Field("ccpe-wan", pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    max_functions: int = Field(8, ge=1, le=64, description="how many functions the device runs")
    netns: str | None = Field(
        None,
        pattern=r"^ccpe-[A-Za-z0-9_.-]{1,59}$",
        description="embedded host: the namespace that plays this device",
    )
    management: Literal["embedded", "agent"] = Field(
        "embedded",
        description="embedded: the orchestrator realises the device itself (lab, simulated "
        "devices); agent: a `cloudcpe agent` on the device activates with the activation code "
        "returned once in this response, then pulls its desired state",
    )


class DevicePublic(_Out):
    id: str
    tenant_id: str
    site_id: str | None
    name: str
    serial: str
    model: str
    host_key: str
    wan_address: str
    wan_gateway: str
    lan_port: str
    wan_port: str
    max_functions: int
    netns: str | None
    management: str
    activated_at: datetime | None = Field(description="when its agent activated (agent only)")
    activation_expires_at: datetime | None = Field(
        description="when the pending activation code expires (None: no code pending)"
    )
    last_seen_at: datetime | None = Field(description="when its agent last called (agent only)")
    created_at: datetime


Port = Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")
Netns = Field(
    None,
    pattern=r"^ccpe-[A-Za-z0-9_.-]{1,59}$",
    description="embedded host: the namespace that plays this host",
)


class PopCreate(_In):
    name: str = Name
    description: str = Field("", max_length=500)
    public_pool: IPv4Network = Field(
        description="public addresses handed to the chains of cloud sites, e.g. "
        "198.51.100.128/26; on the uplink segment of the POP's compute nodes"
    )


class PopPublic(_Timed):
    id: str
    name: str
    description: str
    public_pool: str
    compute_nodes: int
    functions_placed: int
    capacity: int = Field(description="how many functions the POP's compute nodes run at most")
    addresses_in_use: int
    addresses_total: int


class ComputeNodeCreate(_In):
    name: str = Name
    serial: str = Field(min_length=1, max_length=63)
    model: str = Field("linux-compute", max_length=63)
    uplink_port: str = Field("ccpe-up", pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    uplink_address: IPv4Interface = Field(
        description="the node's address on the POP's uplink segment: its tunnel endpoint, "
        "e.g. 198.51.100.11/24"
    )
    uplink_gateway: IPv4Address
    max_functions: int = Field(20, ge=1, le=1024, description="how many functions it runs")
    netns: str | None = Netns


class ComputeNodePublic(_Timed):
    id: str
    pop_id: str
    name: str
    serial: str
    model: str
    host_key: str
    uplink_port: str
    uplink_address: str
    uplink_gateway: str
    max_functions: int
    functions_placed: int
    load: float = Field(description="functions placed / max_functions")
    netns: str | None


class DeviceCreated(DevicePublic):
    activation_code: str | None = Field(
        None,
        description="agent-managed devices: the one-time activation code for the device's "
        "agent. Shown only here; POST /devices/{id}/activation_code issues a new one",
    )


class ActivationCodePublic(BaseModel):
    device_id: str
    activation_code: str = Field(description="shown once; any earlier code no longer works")
    expires_at: datetime
