"""Render the chains placed on one host into that host's desired state document.

Addressing plan of one chain f0 -> ... -> fn-1 (each function its own namespace):
- f0's LAN-side connection point holds the site's LAN gateway (first host of the LAN prefix)
  and is bridged to the device's LAN port;
- consecutive functions are joined by /30 transit links 100.64.0.4i/30; namespaces isolate
  them, so every chain reuses the same transit addresses;
- the last function's WAN-side connection point is bridged to the device's WAN port and holds
  the site's WAN address, unless a translating function (nat) sits earlier in the chain: then
  the public address is routed back to that function hop by hop and the last function answers
  ARP for it (proxy ARP), so replies reach the function that owns the translation state.

A chain of a cloud site runs on a compute node: its LAN side is a WireGuard tunnel from the
site's thin CPE instead (see `render_cloud`), and its WAN side the node's uplink, holding the
address the chain got from the POP's pool. Everything else is the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from cloudcpe.functions import FunctionContext, get_kind
from cloudcpe.functions.base import IN_IF, OUT_IF
from cloudcpe.nfvi.model import (
    PREFIX,
    Bridge,
    FunctionNamespace,
    HostDesiredState,
    LinkEnd,
    Route,
    Tunnel,
    TunnelEndpoint,
    TunnelPeer,
    VethLink,
)

LAN_BRIDGE = f"{PREFIX}-brlan"
WAN_BRIDGE = f"{PREFIX}-brwan"
TRANSIT = IPv4Network("100.64.0.0/24")
DEFAULT = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class ChainFunction:
    owner: str  # VNF instance id
    key: str  # short unique key (names the namespace)
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TunnelPlan:
    """One end of a site tunnel as the orchestrator planned it (keys base64)."""

    ifname: str
    private_key: str = field(repr=False)
    listen_port: int
    address: IPv4Interface  # the inner address of this end
    peer_public_key: str
    peer_allowed_ips: list[IPv4Network]
    peer_endpoint: TunnelEndpoint | None = None
    keepalive: int | None = None

    def spec(self, netns: str, underlay_netns: str | None = None) -> Tunnel:
        peer = TunnelPeer(
            public_key=self.peer_public_key,
            endpoint=self.peer_endpoint,
            allowed_ips=self.peer_allowed_ips,
            persistent_keepalive=self.keepalive,
        )
        return Tunnel(
            ifname=self.ifname,
            netns=netns,
            underlay_netns=underlay_netns,
            private_key=self.private_key,
            listen_port=self.listen_port,
            addresses=[self.address],
            peers=[peer],
        )


@dataclass(frozen=True)
class PlacedChain:
    key: str  # short unique key of the NS instance on this host (names host-side links)
    lan_prefix: IPv4Network
    wan_address: IPv4Interface
    wan_gateway: IPv4Address
    lan_port: str | None  # None: the LAN side is `tunnel`
    wan_port: str
    functions: list[ChainFunction] = field(default_factory=list)
    tunnel: TunnelPlan | None = None  # cloud sites: the tunnel from the site's thin CPE


@dataclass
class Parts:
    """Pieces of a host document; chains, a thin CPE's site edge and a compute node's
    underlay each render to parts, `render_host` joins them."""

    namespaces: list[FunctionNamespace] = field(default_factory=list)
    links: list[VethLink] = field(default_factory=list)
    tunnels: list[Tunnel] = field(default_factory=list)
    lan_ports: set[str] = field(default_factory=set)  # device ports bridged to the LAN ends
    wan_ports: set[str] = field(default_factory=set)  # device ports bridged to the WAN ends

    def add(self, other: Parts) -> None:
        self.namespaces += other.namespaces
        self.links += other.links
        self.tunnels += other.tunnels
        self.lan_ports |= other.lan_ports
        self.wan_ports |= other.wan_ports


def namespace_name(host: str, function_key: str) -> str:
    return f"{PREFIX}-{host}-{function_key}"


def lan_gateway(lan_prefix: IPv4Network) -> IPv4Interface:
    return IPv4Interface(f"{lan_prefix.network_address + 1}/{lan_prefix.prefixlen}")


def transit_pair(i: int) -> tuple[IPv4Interface, IPv4Interface]:
    """Addresses of link i (between function i and i+1): (upstream end, downstream end)."""
    base = TRANSIT.network_address + 4 * i
    return IPv4Interface(f"{base + 1}/30"), IPv4Interface(f"{base + 2}/30")


def max_chain_length() -> int:
    return TRANSIT.num_addresses // 4


def underlay_namespace(host: str) -> str:
    """A compute node's namespace holding its tunnel endpoint (where tunnels' UDP lives)."""
    return namespace_name(host, "ul")


def render_host(
    host: str, version: int, chains: list[PlacedChain], extra: list[Parts] | None = None
) -> HostDesiredState:
    parts = Parts()
    for chain in chains:
        parts.add(_render_chain(host, chain))
    for more in extra or []:
        parts.add(more)
    bridges = []
    if parts.lan_ports:
        bridges.append(Bridge(name=LAN_BRIDGE, ports=sorted(parts.lan_ports)))
    if parts.wan_ports:
        bridges.append(Bridge(name=WAN_BRIDGE, ports=sorted(parts.wan_ports)))
    return HostDesiredState(
        host=host,
        version=version,
        namespaces=parts.namespaces,
        links=parts.links,
        bridges=bridges,
        tunnels=parts.tunnels,
    )


def _public_owner(chain: PlacedChain) -> int | None:
    for i, fn in enumerate(chain.functions):
        if get_kind(fn.kind).translates_to_public:
            return i
    return None


def _render_chain(host: str, chain: PlacedChain) -> Parts:
    n = len(chain.functions)
    names = [namespace_name(host, fn.key) for fn in chain.functions]
    owner = _public_owner(chain)
    last_holds_wan = owner is None or owner == n - 1
    public = chain.wan_address.ip

    lan_side = chain.tunnel.address if chain.tunnel else lan_gateway(chain.lan_prefix)
    in_addr = [lan_side] + [transit_pair(i)[1] for i in range(n - 1)]
    out_addr: list[IPv4Interface | None] = [transit_pair(i)[0] for i in range(n - 1)]
    out_addr.append(chain.wan_address if last_holds_wan else None)
    in_ifs = [chain.tunnel.ifname if chain.tunnel else IN_IF] + [IN_IF] * (n - 1)

    parts = Parts(wan_ports={chain.wan_port})
    links = parts.links
    if chain.tunnel is not None:
        parts.tunnels.append(chain.tunnel.spec(names[0], underlay_namespace(host)))
    if chain.lan_port is not None:
        parts.lan_ports.add(chain.lan_port)
        links.append(
            VethLink(
                a=LinkEnd(ifname=f"{PREFIX}{chain.key}l", master=LAN_BRIDGE),
                b=LinkEnd(netns=names[0], ifname=IN_IF, addresses=[in_addr[0]]),
            )
        )
    for i in range(n - 1):
        up, down = transit_pair(i)
        links.append(
            VethLink(
                a=LinkEnd(netns=names[i], ifname=OUT_IF, addresses=[up]),
                b=LinkEnd(netns=names[i + 1], ifname=IN_IF, addresses=[down]),
            )
        )
    last_out = out_addr[-1]
    links.append(
        VethLink(
            a=LinkEnd(
                netns=names[-1],
                ifname=OUT_IF,
                addresses=[last_out] if last_out else [],
                proxy_arp=not last_holds_wan,
            ),
            b=LinkEnd(ifname=f"{PREFIX}{chain.key}w", master=WAN_BRIDGE),
        )
    )

    for i, fn in enumerate(chain.functions):
        kind = get_kind(fn.kind)
        ctx = FunctionContext(
            position=i,
            chain_length=n,
            lan_prefix=chain.lan_prefix,
            wan_address=chain.wan_address,
            in_address=in_addr[i],
            out_address=out_addr[i],
            in_ifname=in_ifs[i],
        )
        real = kind.realise(kind.parse(fn.params), ctx)
        routes = _chain_routes(i, n, chain, owner, public) + real.routes
        parts.namespaces.append(
            FunctionNamespace(
                name=names[i],
                owner=fn.owner,
                kind=fn.kind,
                routes=routes,
                sysctls={"ipv4.ip_forward": "1", **real.sysctls},
                nftables=real.nftables,
            )
        )
    return parts


def _chain_routes(
    i: int, n: int, chain: PlacedChain, owner: int | None, public: IPv4Address
) -> list[Route]:
    routes: list[Route] = []
    if i < n - 1:
        routes.append(Route(dst=DEFAULT, via=transit_pair(i)[1].ip, dev=OUT_IF))
    else:
        wan_onlink = owner is not None and owner != n - 1
        routes.append(Route(dst=DEFAULT, via=chain.wan_gateway, dev=OUT_IF, onlink=wan_onlink))
    if i == 0 and chain.tunnel is not None:
        routes.append(Route(dst=chain.lan_prefix, dev=chain.tunnel.ifname))
    if i > 0:
        upstream = transit_pair(i - 1)[0].ip
        routes.append(Route(dst=chain.lan_prefix, via=upstream, dev=IN_IF))
        if owner is not None and i > owner:
            routes.append(Route(dst=IPv4Network(f"{public}/32"), via=upstream, dev=IN_IF))
    return routes
