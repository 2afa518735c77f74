"""The chain renderer: addressing, routing and wiring of chains into a host document."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from cloudcpe.lcm.render import (
    LAN_BRIDGE,
    WAN_BRIDGE,
    ChainFunction,
    PlacedChain,
    render_host,
)
from cloudcpe.nfvi.model import FunctionNamespace, HostDesiredState

WAN = IPv4Interface("203.0.113.2/24")


def chain(*kinds: str, key: str = "abc123", lan: str = "192.168.10.0/24") -> PlacedChain:
    params: dict[str, dict[str, Any]] = {"firewall": {"rules": []}, "nat": {}, "router": {}}
    return PlacedChain(
        key=key,
        lan_prefix=IPv4Network(lan),
        wan_address=WAN,
        wan_gateway=IPv4Address("203.0.113.1"),
        lan_port="ccpe-lan",
        wan_port="ccpe-wan",
        functions=[
            ChainFunction(owner=f"vnf{i}", key=f"k{key}{i}", kind=k, params=params[k])
            for i, k in enumerate(kinds)
        ],
    )


def routes(ns: FunctionNamespace) -> set[tuple[str, str | None, str, bool]]:
    return {(str(r.dst), str(r.via) if r.via else None, r.dev, r.onlink) for r in ns.routes}


def test_firewall_then_nat_wires_lan_to_wan() -> None:
    doc = render_host("h0000001", 3, [chain("firewall", "nat")])
    fw, nat = doc.namespaces
    assert (fw.name, nat.name) == ("ccpe-h0000001-kabc1230", "ccpe-h0000001-kabc1231")
    assert doc.version == 3
    lan, transit, wan = doc.links
    assert (lan.a.netns, lan.a.master, lan.b.netns) == (None, LAN_BRIDGE, fw.name)
    assert [str(a) for a in lan.b.addresses] == ["192.168.10.1/24"]
    assert [str(a) for a in transit.a.addresses + transit.b.addresses] == [
        "100.64.0.1/30",
        "100.64.0.2/30",
    ]
    assert (wan.a.netns, [str(a) for a in wan.a.addresses], wan.a.proxy_arp) == (
        nat.name,
        ["203.0.113.2/24"],
        False,
    )
    assert (wan.b.netns, wan.b.master) == (None, WAN_BRIDGE)
    assert routes(fw) == {("0.0.0.0/0", "100.64.0.2", "ccpe-out", False)}
    assert routes(nat) == {
        ("0.0.0.0/0", "203.0.113.1", "ccpe-out", False),
        ("192.168.10.0/24", "100.64.0.1", "ccpe-in", False),
    }
    assert [(b.name, b.ports) for b in doc.bridges] == [
        (LAN_BRIDGE, ["ccpe-lan"]),
        (WAN_BRIDGE, ["ccpe-wan"]),
    ]
    assert all(ns.sysctls["ipv4.ip_forward"] == "1" for ns in doc.namespaces)


def test_functions_after_nat_route_the_public_address_back_to_it() -> None:
    doc = render_host("h0000001", 1, [chain("firewall", "nat", "router")])
    _, nat, router = doc.namespaces
    wan = doc.links[-1]
    assert wan.a.netns == router.name and wan.a.addresses == [] and wan.a.proxy_arp
    assert ("203.0.113.2/32", "100.64.0.5", "ccpe-in", False) in routes(router)
    assert ("0.0.0.0/0", "203.0.113.1", "ccpe-out", True) in routes(router)
    assert not any(str(r.dst) == "203.0.113.2/32" for r in nat.routes)
    snat = nat.nftables.commands[-1]["add"]["rule"]["expr"][-1] if nat.nftables else None
    assert snat == {"snat": {"addr": "203.0.113.2"}}


def test_document_is_a_pure_function_of_its_input() -> None:
    one = render_host("h0000001", 1, [chain("firewall", "nat")])
    two = render_host("h0000001", 1, [chain("firewall", "nat")])
    assert one == two
    assert HostDesiredState.model_validate(one.model_dump(mode="json")) == one


def test_empty_host_has_nothing_of_ours() -> None:
    doc = render_host("h0000001", 7, [])
    assert (doc.namespaces, doc.links, doc.bridges) == ([], [], [])


def test_firewall_rules_in_order_with_counters() -> None:
    from cloudcpe.functions import get_kind
    from cloudcpe.functions.base import FunctionContext

    kind = get_kind("firewall")
    params = kind.parse(
        {
            "rules": [
                {"action": "deny", "protocol": "tcp", "dst_ports": [8080, "9000-9100"]},
                {"action": "allow", "src": "192.168.10.0/24"},
            ]
        }
    )
    ctx = FunctionContext(
        0, 1, IPv4Network("192.168.10.0/24"), WAN, IPv4Interface("192.168.10.1/24"), WAN
    )
    ruleset = kind.realise(params, ctx).nftables
    assert ruleset is not None
    rules = [c["add"]["rule"] for c in ruleset.commands if "rule" in c["add"]]
    assert [r.get("comment") for r in rules] == [None, None, "rule 0", "rule 1", "default"]
    deny = rules[2]["expr"]
    assert deny[-2:] == [{"counter": None}, {"drop": None}]
    assert deny[1]["match"]["right"] == {"set": [8080, {"range": [9000, 9100]}]}
    assert rules[3]["expr"][0]["match"]["right"] == {"prefix": {"addr": "192.168.10.0", "len": 24}}
    chain_cmd = ruleset.commands[0]["add"]["chain"]
    assert (chain_cmd["hook"], chain_cmd["policy"]) == ("forward", "drop")


def test_router_after_nat_reaches_wan_next_hops_on_link() -> None:
    from dataclasses import replace

    base = chain("firewall", "nat", "router")
    routed = ChainFunction(
        owner="vnf2",
        key="kabc1232",
        kind="router",
        params={
            "routes": [
                {"prefix": "198.51.100.0/24", "via": "203.0.113.1"},
                {"prefix": "10.20.0.0/16", "via": "100.64.0.5"},
            ]
        },
    )
    doc = render_host("h0000001", 1, [replace(base, functions=[*base.functions[:2], routed])])
    assert {
        ("198.51.100.0/24", "203.0.113.1", "ccpe-out", True),
        ("10.20.0.0/16", "100.64.0.5", "ccpe-in", False),
    } <= routes(doc.namespaces[2])


def test_router_with_an_addressed_wan_end_does_not_force_on_link() -> None:
    from dataclasses import replace

    base = chain("firewall", "router")
    routed = ChainFunction(
        owner="vnf1",
        key="kabc1231",
        kind="router",
        params={
            "routes": [
                {"prefix": "198.51.100.0/24", "via": "203.0.113.1"},
                {"prefix": "10.99.0.0/16", "via": "10.98.0.1"},
            ]
        },
    )
    doc = render_host("h0000001", 1, [replace(base, functions=[base.functions[0], routed])])
    assert {
        ("198.51.100.0/24", "203.0.113.1", "ccpe-out", False),
        ("10.99.0.0/16", "10.98.0.1", "ccpe-out", False),
    } <= routes(doc.namespaces[1])


def test_host_keys_cannot_overlap_another_hosts_namespaces() -> None:
    import pytest
    from pydantic import ValidationError

    for bad in ("a-b", "lab", "", "UPPER", "x" * 17):
        with pytest.raises(ValidationError):
            HostDesiredState(host=bad)
    assert HostDesiredState(host="0a1b2c3d").host == "0a1b2c3d"
