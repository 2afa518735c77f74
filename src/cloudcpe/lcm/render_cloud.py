"""Rendering for cloud sites: the thin CPE's site edge, the compute node's underlay, and the
tunnel between them.

Addressing and wiring of a cloud site whose chain f0 -> ... -> fn-1 runs on a compute node:

    LAN host -> [thin CPE: site edge namespace] =WireGuard=> [node: f0 ... fn-1] -> uplink

- the thin CPE runs no function: one *site edge* namespace holds the site's LAN gateway
  (bridged to the device's LAN port) and the device's WAN address (bridged to its WAN port);
  it routes the tunnel endpoint via the WAN gateway and everything else into the tunnel, and
  forwards only between the LAN and the tunnel (nothing from the WAN side reaches the LAN);
- the compute node's *underlay* namespace holds the node's tunnel endpoint address on the
  uplink (bridged to the uplink port) with a default route via the uplink gateway; the
  wireguard-go process of every tunnel of the node runs there (its UDP socket on port
  51820 + slot), and the tunnel's interface is moved into the chain's first function, so
  the underlay has no route to any tenant and tenants have none to each other;
- inside the tunnel, a /30 joins the two ends (the node's end .1, the CPE's end .2); every
  tunnel reuses it, isolated by the namespaces; the node's end routes the site LAN into the
  tunnel, and the CPE's end accepts everything from it (its peer's allowed IPs 0.0.0.0/0);
- the chain's WAN side is the node's uplink with the chain's public address from the POP
  pool, its gateway the uplink's: the on-premise plan with the uplink for the WAN port.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from cloudcpe.functions import nft
from cloudcpe.functions.base import IN_IF, OUT_IF
from cloudcpe.lcm.render import (
    DEFAULT,
    LAN_BRIDGE,
    WAN_BRIDGE,
    Parts,
    TunnelPlan,
    lan_gateway,
    namespace_name,
    underlay_namespace,
)
from cloudcpe.nfvi.model import (
    PREFIX,
    FunctionNamespace,
    LinkEnd,
    NftRuleset,
    Route,
    TunnelEndpoint,
    VethLink,
)

TUNNEL_INNER = IPv4Network("100.64.255.0/30")
POP_INNER = IPv4Interface(f"{TUNNEL_INNER.network_address + 1}/{TUNNEL_INNER.prefixlen}")
CPE_INNER = IPv4Interface(f"{TUNNEL_INNER.network_address + 2}/{TUNNEL_INNER.prefixlen}")
TUNNEL_PORT = 51820  # the CPE's end; the node's ends listen on TUNNEL_PORT + slot
MAX_SLOTS = 36 * 36
# wireguard-go binds a random port before it is told its own: keep ours out of that range
RESERVED_PORTS = {"ipv4.ip_local_reserved_ports": f"{TUNNEL_PORT}-{TUNNEL_PORT + MAX_SLOTS - 1}"}
KEEPALIVE = 25  # seconds: the CPE keeps its NAT mappings (if any) and the session alive
UNDERLAY_LINK = f"{PREFIX}-ul"  # the host end of the underlay's uplink leg
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def tunnel_ifname(host: str, slot: int) -> str:
    """`ccpe<host>-<slot in base 36>`: unique among every host of a machine (host keys are
    unique and have no dash), as the control socket /var/run/wireguard/<ifname>.sock is."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"tunnel slot {slot} out of range")
    digits = _DIGITS[slot] if slot < 36 else _DIGITS[slot // 36] + _DIGITS[slot % 36]
    name = f"{PREFIX}{host}-{digits}"
    if len(name) > 15:
        raise ValueError(f"host key {host!r} too long to name its tunnels")
    return name


def pop_port(slot: int) -> int:
    return TUNNEL_PORT + slot


@dataclass(frozen=True)
class SiteEdge:
    """A cloud site's attachment on its thin CPE."""

    key: str  # of the NS instance: names the edge namespace and its host-side links
    owner: str  # the NS instance id
    lan_prefix: IPv4Network
    lan_port: str
    wan_port: str
    wan_address: IPv4Interface
    wan_gateway: IPv4Address
    tunnel: TunnelPlan

    @property
    def endpoint(self) -> TunnelEndpoint:
        assert self.tunnel.peer_endpoint is not None
        return self.tunnel.peer_endpoint


@dataclass(frozen=True)
class Underlay:
    """A compute node's tunnel endpoint on its uplink."""

    owner: str  # the compute node id
    port: str
    address: IPv4Interface
    gateway: IPv4Address


def edge_tunnel(
    host: str, pop_public_key: str, cpe_private_key: str, pop_endpoint: TunnelEndpoint
) -> TunnelPlan:
    """The CPE's end: keeps the session up, sends everything to the POP."""
    return TunnelPlan(
        ifname=tunnel_ifname(host, 0),
        private_key=cpe_private_key,
        listen_port=TUNNEL_PORT,
        address=CPE_INNER,
        peer_public_key=pop_public_key,
        peer_allowed_ips=[DEFAULT],
        peer_endpoint=pop_endpoint,
        keepalive=KEEPALIVE,
    )


def chain_tunnel(
    host: str, slot: int, pop_private_key: str, cpe_public_key: str, lan_prefix: IPv4Network
) -> TunnelPlan:
    """The node's end: answers from wherever the CPE is, carries the site LAN only."""
    return TunnelPlan(
        ifname=tunnel_ifname(host, slot),
        private_key=pop_private_key,
        listen_port=pop_port(slot),
        address=POP_INNER,
        peer_public_key=cpe_public_key,
        peer_allowed_ips=[IPv4Network(f"{CPE_INNER.ip}/32"), lan_prefix],
    )


def edge_namespace(host: str, key: str) -> str:
    return namespace_name(host, f"e{key}")


def render_edge(host: str, edge: SiteEdge) -> Parts:
    name = edge_namespace(host, edge.key)
    tunnel = edge.tunnel.ifname
    endpoint = IPv4Network(f"{edge.endpoint.address}/32")
    namespace = FunctionNamespace(
        name=name,
        owner=edge.owner,
        kind="site-edge",
        routes=[
            Route(dst=endpoint, via=edge.wan_gateway, dev=OUT_IF),
            Route(dst=DEFAULT, dev=tunnel),
        ],
        sysctls={"ipv4.ip_forward": "1", **RESERVED_PORTS},
        nftables=_edge_ruleset(tunnel),
    )
    links = [
        VethLink(
            a=LinkEnd(ifname=f"{PREFIX}{edge.key}l", master=LAN_BRIDGE),
            b=LinkEnd(netns=name, ifname=IN_IF, addresses=[lan_gateway(edge.lan_prefix)]),
        ),
        VethLink(
            a=LinkEnd(netns=name, ifname=OUT_IF, addresses=[edge.wan_address]),
            b=LinkEnd(ifname=f"{PREFIX}{edge.key}w", master=WAN_BRIDGE),
        ),
    ]
    return Parts(
        namespaces=[namespace],
        links=links,
        tunnels=[edge.tunnel.spec(name)],
        lan_ports={edge.lan_port},
        wan_ports={edge.wan_port},
    )


def _edge_ruleset(tunnel: str) -> NftRuleset:
    """Forward between the LAN and the tunnel only: the WAN never reaches the LAN."""
    family, table, chain = "inet", "ccpe", "forward"
    iif, oif = {"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}
    commands: list[dict[str, Any]] = [
        nft.chain(family, table, chain, hook="forward", prio=0, policy="drop"),
        nft.rule(
            family,
            table,
            chain,
            [nft.match(iif, IN_IF), nft.match(oif, tunnel), nft.verdict("accept")],
            comment="lan to pop",
        ),
        nft.rule(
            family,
            table,
            chain,
            [nft.match(iif, tunnel), nft.match(oif, IN_IF), nft.verdict("accept")],
            comment="pop to lan",
        ),
        nft.rule(family, table, chain, [nft.counter(), nft.verdict("drop")], comment="default"),
    ]
    return NftRuleset(tables=[(family, table)], commands=commands)


def render_underlay(host: str, underlay: Underlay) -> Parts:
    name = underlay_namespace(host)
    namespace = FunctionNamespace(
        name=name,
        owner=underlay.owner,
        kind="underlay",
        routes=[Route(dst=DEFAULT, via=underlay.gateway, dev=OUT_IF)],
        sysctls=dict(RESERVED_PORTS),
    )
    link = VethLink(
        a=LinkEnd(netns=name, ifname=OUT_IF, addresses=[underlay.address]),
        b=LinkEnd(ifname=UNDERLAY_LINK, master=WAN_BRIDGE),
    )
    return Parts(namespaces=[namespace], links=[link], wan_ports={underlay.port})
