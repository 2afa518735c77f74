"""The desired state document of one NFVI host, and the observed state it reports back.

This is the single contract between the orchestrator and the infrastructure: the
orchestrator renders one versioned `HostDesiredState` per host, a driver realises it and
answers with an `ObservedState`. The document is low level on purpose (namespaces, veth
links, addresses, routes, sysctls, nftables JSON) so that a host agent needs no knowledge of
network services, function kinds or tenants.
"""

from __future__ import annotations

import re
from datetime import datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PREFIX = "ccpe"
IFNAME_MAX = 15
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(
            f"interface name {name!r} must be 1-{IFNAME_MAX} characters [A-Za-z0-9_.-]"
        )
    return name


class LinkEnd(_Doc):
    """One end of a veth link. `netns=None` means the host namespace (where ports live)."""

    netns: str | None = None
    ifname: str
    addresses: list[IPv4Interface] = Field(default_factory=list)
    master: str | None = None  # a bridge in the host namespace to enslave this end to
    proxy_arp: bool = False

    @field_validator("ifname")
    @classmethod
    def _ifname(cls, v: str) -> str:
        _check_ifname(v)
        if not v.startswith(PREFIX):
            raise ValueError(f"interface name {v!r} must start with {PREFIX!r}")
        return v


class VethLink(_Doc):
    a: LinkEnd
    b: LinkEnd


class Route(_Doc):
    dst: IPv4Network
    dev: str
    via: IPv4Address | None = None
    onlink: bool = False


class NftRuleset(_Doc):
    """Our nftables tables in one namespace, as nftables JSON commands.

    `tables` lists (family, name) of the tables we own; `commands` are JSON commands
    (`{"add": {"chain": ...}}`, `{"add": {"rule": ...}}`, ...) for objects inside them.
    The driver replaces the tables atomically (one transaction), so established flows that
    remain allowed keep flowing through an update.
    """

    tables: list[tuple[Literal["ip", "ip6", "inet", "bridge", "netdev", "arp"], str]]
    commands: list[dict[str, Any]]


class FunctionNamespace(_Doc):
    """One function instance = one network namespace."""

    name: str
    owner: str  # the VNF instance id this namespace realises
    kind: str  # the function kind, informational for the host (firewall, nat, ...)
    routes: list[Route] = Field(default_factory=list)
    # sysctl keys below net. as dotted paths, e.g. "ipv4.ip_forward" -> "1",
    # "ipv4.conf.ccpe-out.proxy_arp" -> "1"
    sysctls: dict[str, str] = Field(default_factory=dict)
    nftables: NftRuleset | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.startswith(PREFIX + "-") or "/" in v or len(v) > 64:
            raise ValueError(f"namespace name {v!r} must start with '{PREFIX}-', max 64 chars")
        return v


class Bridge(_Doc):
    """A bridge in the host namespace joining a device port to the chain ends on it."""

    name: str
    ports: list[str] = Field(default_factory=list)  # existing host interfaces to enslave

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _check_ifname(v)
        if not v.startswith(PREFIX):
            raise ValueError(f"bridge name {v!r} must start with {PREFIX!r}")
        return v


HOST_KEY = re.compile(r"^[a-z0-9]{1,16}$")
RESERVED_HOST_KEYS = {"lab"}  # `ccpe-lab-*` namespaces are the lab's simulated hosts


class HostDesiredState(_Doc):
    """Everything of ours that should exist on one host. Empty = remove everything of ours."""

    host: str  # the host key; the driver only touches objects named under it
    version: int = 0
    namespaces: list[FunctionNamespace] = Field(default_factory=list)
    links: list[VethLink] = Field(default_factory=list)
    bridges: list[Bridge] = Field(default_factory=list)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        # no dashes: the host's namespace prefix `ccpe-<host>-` must never match another's
        if not HOST_KEY.match(v) or v in RESERVED_HOST_KEYS:
            raise ValueError(f"host key {v!r} must be 1-16 of [a-z0-9] and not 'lab'")
        return v


FunctionState = Literal["running", "failed", "absent"]


class FunctionStatus(_Doc):
    owner: str
    namespace: str
    state: FunctionState
    reason: str | None = None


class ObservedState(_Doc):
    host: str
    version: int  # the desired version this observation answers
    functions: list[FunctionStatus] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # host-level problems (bridges, ports)

    def failures_of(self, owners: set[str]) -> list[FunctionStatus]:
        return [f for f in self.functions if f.owner in owners and f.state != "running"]


class InterfaceCounters(_Doc):
    ifname: str
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0


class RuleCounter(_Doc):
    """The counter of one nftables rule of ours (e.g. how much a firewall rule matched)."""

    table: str
    chain: str
    handle: int
    comment: str | None = None
    packets: int = 0
    bytes: int = 0


class FunctionTelemetry(_Doc):
    owner: str
    namespace: str
    interfaces: list[InterfaceCounters] = Field(default_factory=list)
    rules: list[RuleCounter] = Field(default_factory=list)


class HostTelemetry(_Doc):
    """Counters of a host's functions at one moment (monotonic: the kernel's own counters)."""

    host: str
    at: datetime
    functions: list[FunctionTelemetry] = Field(default_factory=list)


def namespace_prefix(host: str) -> str:
    """All function namespaces of a host are named under this prefix (garbage-collection scope)."""
    return f"{PREFIX}-{host}-"
