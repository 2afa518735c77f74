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
class PlacedChain:
    key: str  # short unique key of the NS instance on this host (names host-side links)
    lan_prefix: IPv4Network
    wan_address: IPv4Interface
    wan_gateway: IPv4Address
    lan_port: str
    wan_port: str
    functions: list[ChainFunction] = field(default_factory=list)


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


def render_host(host: str, version: int, chains: list[PlacedChain]) -> HostDesiredState:
    namespaces: list[FunctionNamespace] = []
    links: list[VethLink] = []
    lan_ports: list[str] = []
    wan_ports: list[str] = []
    for chain in chains:
        ns, ln = _render_chain(host, chain)
        namespaces += ns
        links += ln
        lan_ports.append(chain.lan_port)
        wan_ports.append(chain.wan_port)
    bridges = []
    if chains:
        bridges = [
            Bridge(name=LAN_BRIDGE, ports=sorted(set(lan_ports))),
            Bridge(name=WAN_BRIDGE, ports=sorted(set(wan_ports))),
        ]
    return HostDesiredState(
        host=host, version=version, namespaces=namespaces, links=links, bridges=bridges
    )


def _public_owner(chain: PlacedChain) -> int | None:
    for i, fn in enumerate(chain.functions):
        if get_kind(fn.kind).translates_to_public:
            return i
    return None


def _render_chain(host: str, chain: PlacedChain) -> tuple[list[FunctionNamespace], list[VethLink]]:
    n = len(chain.functions)
    names = [namespace_name(host, fn.key) for fn in chain.functions]
    owner = _public_owner(chain)
    last_holds_wan = owner is None or owner == n - 1
    public = chain.wan_address.ip

    in_addr = [lan_gateway(chain.lan_prefix)] + [transit_pair(i)[1] for i in range(n - 1)]
    out_addr: list[IPv4Interface | None] = [transit_pair(i)[0] for i in range(n - 1)]
    out_addr.append(chain.wan_address if last_holds_wan else None)

    links = [
        VethLink(
            a=LinkEnd(ifname=f"{PREFIX}{chain.key}l", master=LAN_BRIDGE),
            b=LinkEnd(netns=names[0], ifname=IN_IF, addresses=[in_addr[0]]),
        )
    ]
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

    namespaces = []
    for i, fn in enumerate(chain.functions):
        kind = get_kind(fn.kind)
        ctx = FunctionContext(
            position=i,
            chain_length=n,
            lan_prefix=chain.lan_prefix,
            wan_address=chain.wan_address,
            in_address=in_addr[i],
            out_address=out_addr[i],
        )
        real = kind.realise(kind.parse(fn.params), ctx)
        routes = _chain_routes(i, n, chain, owner, public) + real.routes
        namespaces.append(
            FunctionNamespace(
                name=names[i],
                owner=fn.owner,
                kind=fn.kind,
                routes=routes,
                sysctls={"ipv4.ip_forward": "1", **real.sysctls},
                nftables=real.nftables,
            )
        )
    return namespaces, links


def _chain_routes(
    i: int, n: int, chain: PlacedChain, owner: int | None, public: IPv4Address
) -> list[Route]:
    routes: list[Route] = []
    if i < n - 1:
        routes.append(Route(dst=DEFAULT, via=transit_pair(i)[1].ip, dev=OUT_IF))
    else:
        wan_onlink = owner is not None and owner != n - 1
        routes.append(Route(dst=DEFAULT, via=chain.wan_gateway, dev=OUT_IF, onlink=wan_onlink))
    if i > 0:
        upstream = transit_pair(i - 1)[0].ip
        routes.append(Route(dst=chain.lan_prefix, via=upstream, dev=IN_IF))
        if owner is not None and i > owner:
            routes.append(Route(dst=IPv4Network(f"{public}/32"), via=upstream, dev=IN_IF))
    return routes
