"""The desired state document of one NFVI host, and the observed state it reports back.

This is the single contract between the orchestrator and the infrastructure: the
orchestrator renders one versioned `HostDesiredState` per host, a driver realises it and
answers with an `ObservedState`. The document is low level on purpose (namespaces, veth
links, addresses, routes, sysctls, nftables JSON, WireGuard tunnels) so that a host agent
needs no knowledge of network services, function kinds or tenants.

Secrets: a tunnel's private key travels in the document's JSON (the host needs it), but never
in its `repr` (it is a `SecretStr`), never in validation errors, and `redact` blanks it for
anything shown to people (API read models, logs).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    field_serializer,
    field_validator,
)

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
    """One function instance = one network namespace (also used for the few namespaces of
    the infrastructure itself, e.g. a thin CPE's site edge or a compute node's underlay)."""

    name: str
    owner: str  # the id of what this namespace realises (a VNF instance, ...)
    kind: str  # informational for the host (firewall, nat, ..., site-edge, underlay)
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


class TunnelEndpoint(_Doc):
    address: IPv4Address
    port: int = Field(ge=1, le=65535)


class TunnelPeer(_Doc):
    public_key: str  # base64 of the peer's X25519 public key (WireGuard's usual notation)
    endpoint: TunnelEndpoint | None = None  # None: learnt from the peer's handshakes
    allowed_ips: list[IPv4Network] = Field(default_factory=list)
    persistent_keepalive: int | None = Field(None, ge=1, le=65535)  # seconds

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, v: str) -> str:
        return _check_key(v, "public key")


class Tunnel(_Doc):
    """A WireGuard interface, realised by a userspace WireGuard process.

    The process runs in `underlay_netns` (None: in `netns`), where its UDP socket lives and
    its encrypted packets come and go; the interface itself lives in `netns`. With two
    namespaces the interface is created in the underlay and moved, so many tunnels can share
    one underlay address (on distinct ports) while each interface stays in its own
    namespace, with no route between them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    ifname: str
    netns: str
    underlay_netns: str | None = None
    private_key: SecretStr  # base64 X25519 private key
    listen_port: int = Field(ge=1, le=65535)
    addresses: list[IPv4Interface] = Field(default_factory=list)
    peers: list[TunnelPeer] = Field(default_factory=list)

    @field_validator("ifname")
    @classmethod
    def _ifname(cls, v: str) -> str:
        _check_ifname(v)
        if not v.startswith(PREFIX):
            raise ValueError(f"interface name {v!r} must start with {PREFIX!r}")
        return v

    @field_validator("private_key")
    @classmethod
    def _private_key(cls, v: SecretStr) -> SecretStr:
        _check_key(v.get_secret_value(), "private key")
        return v

    @field_validator("peers")
    @classmethod
    def _peers(cls, v: list[TunnelPeer]) -> list[TunnelPeer]:
        keys = [p.public_key for p in v]
        if len(set(keys)) != len(keys):
            raise ValueError("peers must have distinct public keys")
        return v

    @field_serializer("private_key", when_used="json")
    def _reveal(self, v: SecretStr, info: SerializationInfo) -> str:
        if isinstance(info.context, dict) and info.context.get("redact"):
            return REDACTED
        return v.get_secret_value()

    @property
    def home(self) -> str:
        """The namespace the WireGuard process runs in."""
        return self.underlay_netns or self.netns


REDACTED = "(redacted)"
SECRET_FIELDS = frozenset({"private_key"})


def _check_key(value: str, what: str) -> str:
    # the message never quotes the value: it may be a secret
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes in base64 (44 characters)")
    return value


def redact(document: Any) -> Any:
    """A copy of a JSON document (desired state, or any part) with every secret blanked."""
    if isinstance(document, dict):
        return {
            k: (REDACTED if k in SECRET_FIELDS and v is not None else redact(v))
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [redact(v) for v in document]
    return document


HOST_KEY = re.compile(r"^[a-z0-9]{1,16}$")
RESERVED_HOST_KEYS = {"lab"}  # `ccpe-lab-*` namespaces are the lab's simulated hosts


class HostDesiredState(_Doc):
    """Everything of ours that should exist on one host. Empty = remove everything of ours."""

    # a document holds private keys: its validation errors never quote what they were given
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    host: str  # the host key; the driver only touches objects named under it
    version: int = 0
    namespaces: list[FunctionNamespace] = Field(default_factory=list)
    links: list[VethLink] = Field(default_factory=list)
    bridges: list[Bridge] = Field(default_factory=list)
    tunnels: list[Tunnel] = Field(default_factory=list)

    @field_validator("tunnels")
    @classmethod
    def _tunnels(cls, v: list[Tunnel]) -> list[Tunnel]:
        names = [t.ifname for t in v]
        if len(set(names)) != len(names):
            raise ValueError("tunnels must have distinct interface names")
        return v

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


class TunnelStatus(_Doc):
    ifname: str
    netns: str
    state: FunctionState
    reason: str | None = None
    latest_handshake: float | None = None  # unix time of the latest handshake with any peer


class ObservedState(_Doc):
    host: str
    version: int  # the desired version this observation answers
    functions: list[FunctionStatus] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # host-level problems (bridges, ports)
    tunnels: list[TunnelStatus] = Field(default_factory=list)

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
