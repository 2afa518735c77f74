"""The Linux driver's pure decisions: what is ours, what differs, what to run."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from cloudcpe.nfvi.linux import plan
from cloudcpe.nfvi.linux.netns import sysctl_file
from cloudcpe.nfvi.linux.plan import KernelLink, KernelRoute
from cloudcpe.nfvi.linux.script import render_script
from cloudcpe.nfvi.model import (
    Bridge,
    FunctionNamespace,
    HostDesiredState,
    LinkEnd,
    NftRuleset,
    Route,
    VethLink,
)

RULES = NftRuleset(
    tables=[("inet", "ccpe_fw")],
    commands=[{"add": {"chain": {"family": "inet", "table": "ccpe_fw", "name": "fwd"}}}],
)


def veth(index: int, name: str, peer: int | None, alias: str | None = None) -> KernelLink:
    return KernelLink(index, name, "veth", peer, None, True, alias)


def kroute(
    dst: str, oif: int, via: str | None, proto: int = 4, onlink: bool = False
) -> KernelRoute:
    gateway = IPv4Address(via) if via else None
    return KernelRoute(IPv4Network(dst), oif, gateway, onlink, proto)


# ---------------------------------------------------------------- links


def test_veth_pair_needs_both_ends_pointing_at_each_other() -> None:
    assert plan.veth_pair_ok(veth(5, "ccpe-a", 7), veth(7, "ccpe-b", 5), same_ns=False)
    assert not plan.veth_pair_ok(veth(5, "ccpe-a", 7), veth(7, "ccpe-b", 9), same_ns=False)
    assert not plan.veth_pair_ok(veth(5, "ccpe-a", 7), None, same_ns=False)
    bridge = KernelLink(7, "ccpe-b", "bridge", None, None, True)
    assert not plan.veth_pair_ok(veth(5, "ccpe-a", 7), bridge, same_ns=False)
    # in one namespace an index cannot be both ends
    assert not plan.veth_pair_ok(veth(5, "ccpe-a", 5), veth(5, "ccpe-a", 5), same_ns=True)


def test_stale_links_are_ccpe_named_undesired_and_marked_ours() -> None:
    mine = plan.owner_alias("h1")
    links = [
        veth(2, "ccpe-old", 3, alias=mine),
        veth(4, "ccpe-keep", 5, alias=mine),
        veth(6, "ccpe-wan", 7),  # a device port: never ours
        veth(8, "ccpe-other", 9, alias=plan.owner_alias("h2")),
        veth(10, "eth0", 11, alias=mine),
    ]
    assert [k.name for k in plan.stale_links(links, {"ccpe-keep"}, alias=mine)] == ["ccpe-old"]
    # inside a function namespace everything ccpe-named is ours
    names = [k.name for k in plan.stale_links(links, {"ccpe-keep"})]
    assert names == ["ccpe-old", "ccpe-wan", "ccpe-other"]


def test_bridge_dependents_are_the_namespaces_on_its_links() -> None:
    doc = HostDesiredState(
        host="h",
        links=[
            VethLink(
                a=LinkEnd(ifname="ccpe-h1", master="ccpe-br"),
                b=LinkEnd(netns="ccpe-h-fw", ifname="ccpe-in"),
            ),
            VethLink(
                a=LinkEnd(netns="ccpe-h-fw", ifname="ccpe-out"),
                b=LinkEnd(netns="ccpe-h-nat", ifname="ccpe-in"),
            ),
        ],
        bridges=[Bridge(name="ccpe-br"), Bridge(name="ccpe-idle")],
    )
    assert plan.bridge_dependents(doc) == {"ccpe-br": {"ccpe-h-fw"}, "ccpe-idle": set()}


# ---------------------------------------------------------------- addresses and routes


def test_address_changes_add_missing_and_remove_stale() -> None:
    want = [IPv4Interface("10.0.0.1/24"), IPv4Interface("10.0.1.1/24")]
    have = [IPv4Interface("10.0.0.1/24"), IPv4Interface("10.0.0.1/30")]
    add, remove = plan.address_changes(want, have)
    assert add == [IPv4Interface("10.0.1.1/24")]
    assert remove == [IPv4Interface("10.0.0.1/30")]
    assert plan.address_changes(want, want) == ([], [])


def test_route_changes_keep_matches_replace_differences_and_collect_ours() -> None:
    desired = [
        Route(dst=IPv4Network("0.0.0.0/0"), via=IPv4Address("10.0.0.2"), dev="ccpe-out"),
        Route(dst=IPv4Network("10.9.0.0/16"), via=IPv4Address("10.0.0.3"), dev="ccpe-out"),
        Route(
            dst=IPv4Network("10.8.0.0/16"), via=IPv4Address("10.0.0.9"), dev="ccpe-out", onlink=True
        ),
    ]
    existing = [
        kroute("0.0.0.0/0", 2, "10.0.0.2"),
        kroute("10.9.0.0/16", 2, "10.0.0.4"),  # wrong gateway: replaced
        kroute("10.8.0.0/16", 2, "10.0.0.9"),  # missing onlink: replaced
        kroute("10.0.0.0/24", 2, None, proto=2),  # connected: never touched
        kroute("10.7.0.0/16", 2, "10.0.0.5", proto=3),  # `ip route add`: ours, stale
        kroute("10.6.0.0/16", 2, "10.0.0.5", proto=186),  # bgp's: left to its daemon
    ]
    replace, delete = plan.route_changes(desired, {"ccpe-out": 2}, existing)
    assert replace == desired[1:]
    assert delete == [existing[4]]


def test_route_label_names_the_route_like_ip_does() -> None:
    route = Route(dst=IPv4Network("10.20.0.0/16"), via=IPv4Address("10.99.0.1"), dev="ccpe-out")
    assert plan.route_label(route) == "route 10.20.0.0/16 via 10.99.0.1 dev ccpe-out"
    default = Route(dst=IPv4Network("0.0.0.0/0"), dev="ccpe-out", onlink=True)
    assert plan.route_label(default) == "route default dev ccpe-out onlink"


# ---------------------------------------------------------------- sysctls


def test_sysctls_split_namespace_wide_from_per_interface() -> None:
    general, per_if = plan.split_sysctls(
        {
            "ipv4.ip_forward": "1",
            "ipv4.conf.all.rp_filter": "0",
            "ipv4.conf.default.proxy_arp": "1",
            "ipv4.conf.ccpe-out.proxy_arp": "1",
            "ipv4.conf.ccpe-out.10.rp_filter": "2",
        }
    )
    assert set(general) == {
        "ipv4.ip_forward",
        "ipv4.conf.all.rp_filter",
        "ipv4.conf.default.proxy_arp",
    }
    assert set(per_if) == {"ipv4.conf.ccpe-out.proxy_arp", "ipv4.conf.ccpe-out.10.rp_filter"}
    assert plan.interface_of_sysctl("ipv4.conf.ccpe-out.10.rp_filter") == "ccpe-out.10"


def test_sysctl_file_keeps_dotted_interface_names_whole() -> None:
    assert sysctl_file("ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert (
        sysctl_file("ipv4.conf.ccpe-out.10.proxy_arp")
        == "/proc/sys/net/ipv4/conf/ccpe-out.10/proxy_arp"
    )


# ---------------------------------------------------------------- nftables


def test_fingerprint_is_stable_and_changes_with_the_ruleset() -> None:
    same = NftRuleset.model_validate(RULES.model_dump())
    assert plan.ruleset_fingerprint(same) == plan.ruleset_fingerprint(RULES)
    other = RULES.model_copy(update={"tables": [("inet", "ccpe_fw2")]})
    assert plan.ruleset_fingerprint(other) != plan.ruleset_fingerprint(RULES)


def test_ruleset_in_place_needs_exactly_our_tables_with_our_fingerprint() -> None:
    table = ("inet", "ccpe_fw")
    marker = plan.fingerprint_comment(RULES)
    assert plan.ruleset_in_place(RULES, [table], {table: marker})
    assert not plan.ruleset_in_place(RULES, [table], {table: "ccpe:fp=old"})
    assert not plan.ruleset_in_place(RULES, [table], {table: None})
    assert not plan.ruleset_in_place(RULES, [table, ("ip", "x")], {table: marker})
    assert not plan.ruleset_in_place(RULES, [], {})
    assert plan.ruleset_in_place(None, [], {})
    assert not plan.ruleset_in_place(None, [table], {})


def test_sync_batch_replaces_our_tables_and_drops_foreign_ones_in_one_batch() -> None:
    batch = plan.nft_sync_batch(RULES, [("inet", "ccpe_fw"), ("ip", "leftover")])
    fw = {"family": "inet", "name": "ccpe_fw"}
    assert batch[:3] == [
        {"add": {"table": fw}},
        {"delete": {"table": fw}},
        {"delete": {"table": {"family": "ip", "name": "leftover"}}},
    ]
    assert batch[3:] == plan.ruleset_commands(RULES)
    marker_rule = batch[5]["add"]["rule"]
    assert marker_rule["chain"] == plan.META_CHAIN
    assert marker_rule["comment"] == plan.fingerprint_comment(RULES)
    assert batch[-1] == RULES.commands[-1]
    assert plan.nft_sync_batch(None, [("ip", "leftover")]) == [
        {"delete": {"table": {"family": "ip", "name": "leftover"}}}
    ]


def test_fingerprint_of_finds_the_marker_rule() -> None:
    listing = [
        {"chain": {"family": "inet", "table": "t", "name": plan.META_CHAIN}},
        {"rule": {"comment": "not ours", "expr": []}},
        {"rule": {"comment": "ccpe:fp=abc", "expr": [{"continue": None}]}},
    ]
    assert plan.fingerprint_of(listing) == "ccpe:fp=abc"
    assert plan.fingerprint_of([]) is None


# ---------------------------------------------------------------- the script baseline


def test_script_creates_namespaces_links_routes_and_rules_in_order() -> None:
    doc = HostDesiredState(
        host="h1",
        namespaces=[
            FunctionNamespace(
                name="ccpe-h1-fw",
                owner="v1",
                kind="firewall",
                sysctls={"ipv4.ip_forward": "1", "ipv4.conf.ccpe-in.rp_filter": "0"},
                routes=[
                    Route(
                        dst=IPv4Network("0.0.0.0/0"), via=IPv4Address("100.64.0.2"), dev="ccpe-in"
                    )
                ],
                nftables=RULES,
            )
        ],
        links=[
            VethLink(
                a=LinkEnd(
                    netns="ccpe-h1-fw",
                    ifname="ccpe-in",
                    addresses=[IPv4Interface("192.168.10.1/24")],
                ),
                b=LinkEnd(ifname="ccpe-h-fw", master="ccpe-br", proxy_arp=True),
            )
        ],
        bridges=[Bridge(name="ccpe-br", ports=["ccpe-lan"])],
    )
    lines = render_script(doc, "cpe").splitlines()
    assert lines[:2] == ["#!/bin/bash", "set -euo pipefail"]
    expected_in_order = [
        "ip netns add ccpe-h1-fw",
        "ip netns exec ccpe-h1-fw sysctl -qw net.ipv4.ip_forward=1",
        "ip -n cpe link add ccpe-br type bridge",
        "ip -n cpe link set dev ccpe-lan master ccpe-br",
        "ip -n cpe link add ccpe-h-fw type veth peer name ccpe-in netns ccpe-h1-fw",
        "ip -n cpe link set dev ccpe-h-fw master ccpe-br",
        "ip -n ccpe-h1-fw addr add 192.168.10.1/24 dev ccpe-in",
        "ip netns exec cpe sysctl -qw net.ipv4.conf.ccpe-h-fw.proxy_arp=1",
        "ip netns exec ccpe-h1-fw sysctl -qw net.ipv4.conf.ccpe-in.rp_filter=0",
        "ip -n ccpe-h1-fw route add 0.0.0.0/0 via 100.64.0.2 dev ccpe-in proto static",
        "ip netns exec ccpe-h1-fw nft -j -f - <<'CCPE_NFT_EOF'",
    ]
    positions = [lines.index(line) for line in expected_in_order]
    assert positions == sorted(positions)
    assert lines[-1] == "CCPE_NFT_EOF"


def test_script_in_the_current_namespace_uses_plain_commands() -> None:
    doc = HostDesiredState(
        host="h1",
        links=[VethLink(a=LinkEnd(ifname="ccpe-a", proxy_arp=True), b=LinkEnd(ifname="ccpe-b"))],
    )
    script = render_script(doc, None)
    assert "ip link add ccpe-a type veth peer name ccpe-b\n" in script
    assert "sysctl -qw net.ipv4.conf.ccpe-a.proxy_arp=1\n" in script


def test_proxy_arp_ends_answer_without_the_legacy_random_delay() -> None:
    from cloudcpe.nfvi.linux.plan import end_sysctls
    from cloudcpe.nfvi.model import LinkEnd

    assert end_sysctls(LinkEnd(netns="ccpe-x", ifname="ccpe-out", proxy_arp=True)) == {
        "ipv4.conf.ccpe-out.proxy_arp": "1",
        "ipv4.neigh.ccpe-out.proxy_delay": "0",
    }
    assert end_sysctls(LinkEnd(netns="ccpe-x", ifname="ccpe-out")) == {
        "ipv4.conf.ccpe-out.proxy_arp": "0"
    }
