"""Rendering of cloud sites: a chain reached through a tunnel on a compute node, the thin
CPE's site edge, the node's underlay; the tunnel names and the POP pool's arithmetic."""

from __future__ import annotations

import base64
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from cloudcpe.inventory.ipam import first_free, usable
from cloudcpe.lcm.render import LAN_BRIDGE, WAN_BRIDGE, ChainFunction, PlacedChain, render_host
from cloudcpe.lcm.render_cloud import (
    SiteEdge,
    Underlay,
    chain_tunnel,
    edge_tunnel,
    pop_port,
    render_edge,
    render_underlay,
    tunnel_ifname,
)
from cloudcpe.nfvi.model import TunnelEndpoint

NODE, CPE = "n0000001", "c0000001"
POP_PRIV = base64.b64encode(bytes(32)).decode()
CPE_PUB = base64.b64encode(bytes(range(32))).decode()
LAN = IPv4Network("192.168.10.0/24")


def cloud_chain(*kinds: str, slot: int = 3) -> PlacedChain:
    params: dict[str, dict[str, object]] = {"firewall": {"rules": []}, "nat": {}, "router": {}}
    return PlacedChain(
        key="abc123",
        lan_prefix=LAN,
        wan_address=IPv4Interface("198.51.100.129/24"),
        wan_gateway=IPv4Address("198.51.100.1"),
        lan_port=None,
        wan_port="ccpe-up",
        functions=[
            ChainFunction(owner=f"vnf{i}", key=f"k{i}", kind=k, params=params[k])
            for i, k in enumerate(kinds)
        ],
        tunnel=chain_tunnel(NODE, slot, POP_PRIV, CPE_PUB, LAN),
    )


def underlay() -> Underlay:
    return Underlay(
        owner="node-id",
        port="ccpe-up",
        address=IPv4Interface("198.51.100.11/24"),
        gateway=IPv4Address("198.51.100.1"),
    )


def test_tunnel_names_are_unique_per_host_and_slot() -> None:
    assert tunnel_ifname("n0000001", 0) == "ccpen0000001-0"
    assert tunnel_ifname("n0000001", 35) == "ccpen0000001-z"
    assert tunnel_ifname("n0000001", 36) == "ccpen0000001-10"
    assert tunnel_ifname("n0000001", 1295) == "ccpen0000001-zz"
    assert len({tunnel_ifname("ab", s) for s in range(1296)}) == 1296
    with pytest.raises(ValueError):
        tunnel_ifname("n0000001", 1296)
    with pytest.raises(ValueError):
        tunnel_ifname("a-much-too-long-key", 0)
    assert (pop_port(0), pop_port(7)) == (51820, 51827)


def test_a_cloud_chain_starts_at_its_tunnel_and_ends_on_the_uplink() -> None:
    doc = render_host(
        NODE, 1, [cloud_chain("firewall", "nat")], [render_underlay(NODE, underlay())]
    )
    fw, nat, ul = doc.namespaces
    assert (fw.kind, nat.kind, ul.kind, ul.name) == (
        "firewall",
        "nat",
        "underlay",
        f"ccpe-{NODE}-ul",
    )
    # no LAN link, no LAN bridge: the LAN arrives through the tunnel
    assert [b.name for b in doc.bridges] == [WAN_BRIDGE]
    assert doc.bridges[0].ports == ["ccpe-up"]
    assert not any(e.master == LAN_BRIDGE for link in doc.links for e in (link.a, link.b))
    (tunnel,) = doc.tunnels
    assert (tunnel.ifname, tunnel.netns, tunnel.underlay_netns) == (
        f"ccpe{NODE}-3",
        fw.name,
        ul.name,
    )
    assert tunnel.listen_port == 51823
    assert [str(a) for a in tunnel.addresses] == ["100.64.255.1/30"]
    (peer,) = tunnel.peers
    assert (peer.public_key, peer.endpoint, peer.persistent_keepalive) == (CPE_PUB, None, None)
    assert [str(n) for n in peer.allowed_ips] == ["100.64.255.2/32", "192.168.10.0/24"]
    routes = {(str(r.dst), str(r.via) if r.via else None, r.dev) for r in fw.routes}
    assert routes == {
        ("0.0.0.0/0", "100.64.0.2", "ccpe-out"),
        ("192.168.10.0/24", None, tunnel.ifname),
    }
    # the WAN end holds the pool address, with the uplink's gateway
    wan = doc.links[1].a
    assert (wan.netns, [str(a) for a in wan.addresses]) == (nat.name, ["198.51.100.129/24"])
    assert {(str(r.dst), str(r.via)) for r in nat.routes} >= {("0.0.0.0/0", "198.51.100.1")}
    # the underlay: the node's tunnel endpoint on the uplink bridge
    ul_link = doc.links[-1]
    assert (ul_link.a.netns, [str(a) for a in ul_link.a.addresses]) == (
        ul.name,
        ["198.51.100.11/24"],
    )
    assert ul_link.b.master == WAN_BRIDGE
    assert ul.sysctls["ipv4.ip_local_reserved_ports"] == "51820-53115"


def test_a_router_first_in_a_cloud_chain_reaches_lan_next_hops_through_the_tunnel() -> None:
    chain = cloud_chain("router", "nat")
    routed = ChainFunction(
        owner="vnf0",
        key="k0",
        kind="router",
        params={"routes": [{"prefix": "10.1.0.0/16", "via": "100.64.255.2"}]},
    )
    doc = render_host(
        NODE, 1, [PlacedChain(**{**chain.__dict__, "functions": [routed, *chain.functions[1:]]})]
    )
    routes = {(str(r.dst), r.dev) for r in doc.namespaces[0].routes}
    assert ("10.1.0.0/16", f"ccpe{NODE}-3") in routes


def test_the_site_edge_joins_lan_and_tunnel_and_keeps_the_wan_out() -> None:
    endpoint = TunnelEndpoint(address="198.51.100.11", port=51823)
    edge = SiteEdge(
        key="abc123",
        owner="ns-id",
        lan_prefix=LAN,
        lan_port="ccpe-lan",
        wan_port="ccpe-wan",
        wan_address=IPv4Interface("203.0.113.2/24"),
        wan_gateway=IPv4Address("203.0.113.1"),
        tunnel=edge_tunnel(CPE, CPE_PUB, POP_PRIV, endpoint),
    )
    doc = render_host(CPE, 1, [], [render_edge(CPE, edge)])
    (ns,) = doc.namespaces
    assert (ns.name, ns.owner, ns.kind) == (f"ccpe-{CPE}-eabc123", "ns-id", "site-edge")
    assert [(b.name, b.ports) for b in doc.bridges] == [
        (LAN_BRIDGE, ["ccpe-lan"]),
        (WAN_BRIDGE, ["ccpe-wan"]),
    ]
    lan, wan = doc.links
    assert [str(a) for a in lan.b.addresses] == ["192.168.10.1/24"]
    assert [str(a) for a in wan.a.addresses] == ["203.0.113.2/24"]
    (tunnel,) = doc.tunnels
    assert (tunnel.ifname, tunnel.netns, tunnel.home) == (f"ccpe{CPE}-0", ns.name, ns.name)
    (peer,) = tunnel.peers
    assert (peer.endpoint, peer.persistent_keepalive) == (endpoint, 25)
    assert [str(n) for n in peer.allowed_ips] == ["0.0.0.0/0"]
    routes = {(str(r.dst), str(r.via) if r.via else None, r.dev) for r in ns.routes}
    assert routes == {
        ("198.51.100.11/32", "203.0.113.1", "ccpe-out"),
        ("0.0.0.0/0", None, tunnel.ifname),
    }
    assert ns.nftables is not None
    rules = [c["add"]["rule"] for c in ns.nftables.commands if "rule" in c["add"]]
    allowed = [
        tuple(e["match"]["right"] for e in r["expr"] if "match" in e)
        for r in rules
        if {"accept": None} in r["expr"]
    ]
    assert allowed == [("ccpe-in", tunnel.ifname), (tunnel.ifname, "ccpe-in")]
    (chain_cmd,) = [c["add"]["chain"] for c in ns.nftables.commands if "chain" in c["add"]]
    assert chain_cmd["policy"] == "drop"


def test_pool_arithmetic() -> None:
    pool = IPv4Network("198.51.100.128/30")
    assert [str(a) for a in usable(pool)] == ["198.51.100.129", "198.51.100.130"]
    assert first_free(pool, []) == IPv4Address("198.51.100.129")
    assert first_free(pool, [IPv4Address("198.51.100.129")]) == IPv4Address("198.51.100.130")
    assert first_free(pool, usable(pool)) is None
    assert usable(IPv4Network("192.0.2.7/32")) == [IPv4Address("192.0.2.7")]
