"""The Linux NFVI driver on the real kernel, proved with real packets and read back with
`ip -j` / `nft -j` rather than with the driver itself.

The chain: LAN port -> bridge -> fw (inet filter, policy drop) -> nat (snat) -> bridge ->
WAN port, on a lab device whose LAN host and internet server are namespaces too.
"""

from __future__ import annotations

import os
import subprocess
import time
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import pytest

from cloudcpe.nfvi.driver import get_driver
from cloudcpe.nfvi.linux.driver import LinuxDriver
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, hold_connection, ping, tcp_connect
from cloudcpe.nfvi.linux.netns import run_in_netns
from cloudcpe.nfvi.linux.script import render_script
from cloudcpe.nfvi.model import (
    Bridge,
    FunctionNamespace,
    HostDesiredState,
    LinkEnd,
    NftRuleset,
    ObservedState,
    Route,
    VethLink,
)
from tests.integration.conftest import (
    KernelScope,
    ip_json,
    link_names,
    netns_names,
    nft_ruleset,
    run,
)

pytestmark = pytest.mark.kernel

BR_LAN, BR_WAN = "ccpe-br-lan", "ccpe-br-wan"
HOST_FW, HOST_NAT = "ccpe-h-fw", "ccpe-h-nat"  # host-namespace ends of the chain


def _rule(family: str, table: str, chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": family, "table": table, "chain": chain, "expr": list(expr)}}}


def _tcp_dport(port: int) -> dict[str, Any]:
    return {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": port,
        }
    }


COUNTER: dict[str, Any] = {"counter": None}


def firewall_rules(blocked_ports: tuple[int, ...] = (8080,)) -> NftRuleset:
    t = ("inet", "ccpe_fw", "forward")
    established = {
        "match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}
    }
    from_lan = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "ip", "field": "saddr"}},
            "right": {"prefix": {"addr": "192.168.10.0", "len": 24}},
        }
    }
    chain = {
        "family": "inet", "table": "ccpe_fw", "name": "forward",
        "type": "filter", "hook": "forward", "prio": 0, "policy": "drop",
    }  # fmt: skip
    return NftRuleset(
        tables=[("inet", "ccpe_fw")],
        commands=[
            {"add": {"chain": chain}},
            _rule(*t, established, COUNTER, {"accept": None}),
            *(_rule(*t, _tcp_dport(p), COUNTER, {"drop": None}) for p in blocked_ports),
            _rule(*t, from_lan, COUNTER, {"accept": None}),
        ],
    )


def nat_rules() -> NftRuleset:
    chain = {
        "family": "ip", "table": "ccpe_nat", "name": "postrouting",
        "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept",
    }  # fmt: skip
    out = {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "ccpe-out"}}
    return NftRuleset(
        tables=[("ip", "ccpe_nat")],
        commands=[
            {"add": {"chain": chain}},
            _rule("ip", "ccpe_nat", "postrouting", out, COUNTER, {"snat": {"addr": "203.0.113.2"}}),
        ],
    )


def chain_document(
    scope: KernelScope,
    lab: LabSite,
    *,
    version: int = 1,
    fw_rules: NftRuleset | None = None,
    fw_extra_routes: list[Route] | None = None,
    lan_ports: list[str] | None = None,
    fw_host_end: str = HOST_FW,
) -> HostDesiredState:
    fw, nat = scope.ns("fw"), scope.ns("nat")
    forward = {"ipv4.ip_forward": "1"}
    return HostDesiredState(
        host=scope.host,
        version=version,
        namespaces=[
            FunctionNamespace(
                name=fw,
                owner="vnf-fw",
                kind="firewall",
                sysctls=forward,
                routes=[
                    Route(
                        dst=IPv4Network("0.0.0.0/0"), via=IPv4Address("100.64.0.2"), dev="ccpe-out"
                    ),
                    # a next hop outside the link's subnet, declared on-link
                    Route(
                        dst=IPv4Network("198.51.100.0/24"),
                        via=IPv4Address("100.64.9.9"),
                        dev="ccpe-out",
                        onlink=True,
                    ),
                    *(fw_extra_routes or []),
                ],
                nftables=fw_rules or firewall_rules(),
            ),
            FunctionNamespace(
                name=nat,
                owner="vnf-nat",
                kind="nat",
                sysctls=forward,
                routes=[
                    Route(dst=IPv4Network("0.0.0.0/0"), via=lab.wan_gateway, dev="ccpe-out"),
                    Route(dst=lab.lan_prefix, via=IPv4Address("100.64.0.1"), dev="ccpe-in"),
                ],
                nftables=nat_rules(),
            ),
        ],
        links=[
            VethLink(
                a=LinkEnd(ifname=fw_host_end, master=BR_LAN),
                b=LinkEnd(netns=fw, ifname="ccpe-in", addresses=[lab.lan_gateway]),
            ),
            VethLink(
                a=LinkEnd(netns=fw, ifname="ccpe-out", addresses=[IPv4Interface("100.64.0.1/30")]),
                b=LinkEnd(netns=nat, ifname="ccpe-in", addresses=[IPv4Interface("100.64.0.2/30")]),
            ),
            VethLink(
                a=LinkEnd(netns=nat, ifname="ccpe-out", addresses=[lab.wan_address]),
                b=LinkEnd(ifname=HOST_NAT, master=BR_WAN),
            ),
        ],
        bridges=[
            Bridge(name=BR_LAN, ports=lan_ports or [lab.lan_port]),
            Bridge(name=BR_WAN, ports=[lab.wan_port]),
        ],
    )


def states(observed: ObservedState) -> dict[str, str]:
    return {f.owner: f.state for f in observed.functions}


def assert_running(observed: ObservedState) -> None:
    bad = [f for f in observed.functions if f.state != "running"]
    assert not bad and not observed.errors, (bad, observed.errors)


def kernel_snapshot(scope: KernelScope, lab: LabSite) -> dict[str, Any]:
    """Identity of every object (ifindexes, namespace inodes, nft handles and counters)."""
    snap: dict[str, Any] = {}
    for ns in (lab.host_netns, scope.ns("fw"), scope.ns("nat")):
        snap[ns] = {
            "inode": os.stat(f"/var/run/netns/{ns}").st_ino,
            "links": {link["ifname"]: link["ifindex"] for link in ip_json(ns, "link", "show")},
            "addrs": sorted(
                (a["ifname"], i["local"], i["prefixlen"])
                for a in ip_json(ns, "addr", "show")
                for i in a["addr_info"]
                if i["family"] == "inet"
            ),
            "routes": ip_json(ns, "route", "show"),
        }
        if ns != lab.host_netns:
            snap[ns]["nft"] = nft_ruleset(ns)
    return snap


def counter_packets(ruleset: list[dict[str, Any]]) -> list[int]:
    return [
        e["counter"]["packets"]
        for o in ruleset
        if "rule" in o
        for e in o["rule"]["expr"]
        if isinstance(e, dict) and "counter" in e
    ]


# ---------------------------------------------------------------- tests


def test_chain_carries_allowed_traffic_blocks_the_rest_and_hides_the_lan(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    observed = driver.apply(chain_document(kernel_scope, lab))

    # traffic flows as soon as apply returns: no carrier or bridge-port state still pending
    assert ping(lab.lan_netns, lab.server, timeout=0.5).ok
    assert_running(observed)
    assert observed.version == 1
    fw = kernel_scope.ns("fw")
    assert {a["local"] for a in ip_json(fw, "addr", "show", "dev", "ccpe-in")[0]["addr_info"]} >= {
        "192.168.10.1"
    }
    assert ip_json(lab.host_netns, "link", "show", HOST_FW)[0]["master"] == BR_LAN
    assert ip_json(lab.host_netns, "link", "show", lab.lan_port)[0]["master"] == BR_LAN
    (onlink,) = ip_json(fw, "route", "show", "198.51.100.0/24")
    assert onlink["gateway"] == "100.64.9.9" and "onlink" in onlink["flags"]
    assert run("ip", "netns", "exec", fw, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    with TcpServer(lab.inet_netns, 80) as web, TcpServer(lab.inet_netns, 8080) as blocked:
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=0.8).ok
        denied = tcp_connect(lab.lan_netns, lab.server, 8080, timeout=0.5)
        assert not denied.ok and denied.error == "timed out"
        assert web.peers == ["203.0.113.2"]
        assert blocked.peers == []


def test_telemetry_reads_the_kernel_counters_of_each_function(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    assert_running(driver.apply(doc))
    with TcpServer(lab.inet_netns, 80), TcpServer(lab.inet_netns, 8080):
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=3).ok
        assert not tcp_connect(lab.lan_netns, lab.server, 8080, timeout=0.3).ok
    sample = driver.telemetry(doc)
    fw = next(f for f in sample.functions if f.namespace == kernel_scope.ns("fw"))
    ifaces = {i.ifname: i for i in fw.interfaces}
    assert set(ifaces) == {"ccpe-in", "ccpe-out"}
    assert ifaces["ccpe-in"].rx_packets > 0 and ifaces["ccpe-out"].tx_packets > 0
    # the same figures as nft's own: counters are the kernel's, read, never reset
    assert sorted(r.packets for r in fw.rules) == sorted(counter_packets(nft_ruleset(fw.namespace)))
    assert any(r.packets > 0 for r in fw.rules)
    assert sample.host == doc.host
    # a function whose namespace is gone is left out, not an error
    run("ip", "netns", "del", kernel_scope.ns("nat"))
    assert [f.namespace for f in driver.telemetry(doc).functions] == [kernel_scope.ns("fw")]


def test_registry_builds_the_linux_driver(lab: LabSite) -> None:
    driver = get_driver("linux", host_netns=lab.host_netns)
    assert isinstance(driver, LinuxDriver)


def test_applying_the_same_document_again_changes_nothing(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    assert_running(driver.apply(doc))
    with TcpServer(lab.inet_netns, 80):
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=3).ok
    before = kernel_snapshot(kernel_scope, lab)
    assert any(counter_packets(before[kernel_scope.ns("fw")]["nft"]))

    assert_running(driver.apply(doc))
    # a restarted agent (a new driver, nothing in memory) must not reset counters either
    assert_running(LinuxDriver(host_netns=lab.host_netns).apply(doc))

    assert kernel_snapshot(kernel_scope, lab) == before
    assert_running(driver.observe(doc))


def test_ruleset_update_keeps_an_established_connection(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    assert_running(driver.apply(chain_document(kernel_scope, lab)))
    fw = kernel_scope.ns("fw")
    with TcpServer(lab.inet_netns, 80), TcpServer(lab.inet_netns, 9000):
        assert tcp_connect(lab.lan_netns, lab.server, 9000, timeout=3).ok
        with hold_connection(lab.lan_netns, lab.server, 9000, timeout=3) as held:
            assert held.exchange(b"before\n") == b"before\n"
            handle_before = [o["table"]["handle"] for o in nft_ruleset(fw) if "table" in o]

            update = chain_document(
                kernel_scope, lab, version=2, fw_rules=firewall_rules((8080, 9000))
            )
            assert_running(driver.apply(update))

            assert [o["table"]["handle"] for o in nft_ruleset(fw) if "table" in o] != handle_before
            assert held.exchange(b"after\n") == b"after\n"
        assert not tcp_connect(lab.lan_netns, lab.server, 9000, timeout=0.5).ok
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=3).ok


def test_a_route_the_kernel_rejects_fails_only_its_function(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    bad = Route(dst=IPv4Network("10.20.0.0/16"), via=IPv4Address("10.99.0.1"), dev="ccpe-out")
    doc = chain_document(kernel_scope, lab, fw_extra_routes=[bad])

    observed = driver.apply(doc)

    assert states(observed) == {"vnf-fw": "failed", "vnf-nat": "running"}
    (fw,) = [f for f in observed.functions if f.owner == "vnf-fw"]
    assert "route 10.20.0.0/16 via 10.99.0.1 dev ccpe-out: Network is unreachable" in (
        fw.reason or ""
    )
    # the rest of the firewall was still realised
    assert any("table" in o for o in nft_ruleset(kernel_scope.ns("fw")))
    assert states(driver.observe(doc)) == {"vnf-fw": "failed", "vnf-nat": "running"}


def test_missing_device_port_is_a_host_error_failing_the_functions_on_it(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab, lan_ports=["ccpe-nope"])

    observed = driver.apply(doc)

    message = f"device port 'ccpe-nope' not found in host namespace '{lab.host_netns}'"
    assert message in observed.errors
    assert states(observed) == {"vnf-fw": "failed", "vnf-nat": "running"}


def test_a_link_that_cannot_be_made_fails_the_functions_on_its_ends(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    # the host end would take the name of a device port: never deleted to make room
    doc = chain_document(kernel_scope, lab, fw_host_end=lab.wan_port)

    observed = driver.apply(doc)

    assert states(observed) == {"vnf-fw": "failed", "vnf-nat": "running"}
    (fw,) = [f for f in observed.functions if f.owner == "vnf-fw"]
    assert f"host interface '{lab.wan_port}' exists and is not ours" in (fw.reason or "")
    assert ip_json(lab.host_netns, "-d", "link", "show", lab.wan_port)[0]["master"] == BR_WAN


def test_no_host_namespace_means_the_callers_own(kernel_scope: KernelScope, lab: LabSite) -> None:
    doc = chain_document(kernel_scope, lab)
    driver = LinuxDriver()  # run from a thread that sits in the device's namespace

    assert_running(run_in_netns(lab.host_netns, lambda: driver.apply(doc)))

    assert HOST_FW in link_names(lab.host_netns)
    with TcpServer(lab.inet_netns, 80):
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=3).ok
    run_in_netns(lab.host_netns, lambda: driver.apply(HostDesiredState(host=kernel_scope.host)))
    assert link_names(lab.host_netns) == {"lo", lab.lan_port, lab.wan_port}
    driver.close()


def test_observe_reports_drift_and_apply_converges_without_recreating(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    assert states(driver.observe(doc)) == {"vnf-fw": "absent", "vnf-nat": "absent"}
    assert_running(driver.apply(doc))
    fw, nat, cpe = kernel_scope.ns("fw"), kernel_scope.ns("nat"), lab.host_netns
    index_before = ip_json(fw, "link", "show", "ccpe-in")[0]["ifindex"]

    run("ip", "-n", fw, "addr", "del", "192.168.10.1/24", "dev", "ccpe-in")
    run("ip", "-n", fw, "addr", "add", "10.9.9.9/24", "dev", "ccpe-in")
    run("ip", "-n", fw, "route", "add", "10.77.0.0/16", "dev", "ccpe-out")
    run("ip", "-n", nat, "route", "replace", "default", "via", "203.0.113.3", "dev", "ccpe-out")
    run("ip", "-n", cpe, "link", "set", HOST_FW, "nomaster")
    run("ip", "netns", "exec", nat, "nft", "delete", "table", "ip", "ccpe_nat")
    run("ip", "netns", "exec", fw, "nft", "add", "table", "ip", "stray")

    drift = driver.observe(doc)
    assert states(drift) == {"vnf-fw": "failed", "vnf-nat": "failed"}
    reasons = " ".join(f.reason or "" for f in drift.functions)
    assert "address 192.168.10.1/24: missing" in reasons
    assert "route default via 203.0.113.1 dev ccpe-out: missing" in reasons

    assert_running(driver.apply(doc))
    assert_running(driver.observe(doc))
    addrs = {i["local"] for i in ip_json(fw, "addr", "show", "dev", "ccpe-in")[0]["addr_info"]}
    assert "192.168.10.1" in addrs and "10.9.9.9" not in addrs
    assert ip_json(fw, "link", "show", "ccpe-in")[0]["ifindex"] == index_before
    assert not ip_json(fw, "route", "show", "10.77.0.0/16")
    assert ip_json(nat, "route", "show", "default")[0]["gateway"] == "203.0.113.1"
    assert ip_json(cpe, "link", "show", HOST_FW)[0]["master"] == BR_LAN
    assert [o["table"]["name"] for o in nft_ruleset(nat) if "table" in o] == ["ccpe_nat"]
    assert [o["table"]["name"] for o in nft_ruleset(fw) if "table" in o] == ["ccpe_fw"]
    with TcpServer(lab.inet_netns, 80):
        assert tcp_connect(lab.lan_netns, lab.server, 80, timeout=3).ok


def test_an_empty_document_removes_everything_of_ours(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    assert_running(driver.apply(chain_document(kernel_scope, lab)))
    host_links_before_chain = {"lo", lab.lan_port, lab.wan_port}

    observed = driver.apply(HostDesiredState(host=kernel_scope.host, version=2))

    assert observed.functions == [] and observed.errors == []
    assert not {n for n in netns_names() if n.startswith(kernel_scope.prefixes[0])}
    assert link_names(lab.host_netns) == host_links_before_chain
    for port in (lab.lan_port, lab.wan_port):
        assert "master" not in ip_json(lab.host_netns, "link", "show", port)[0]


def test_a_recreated_chain_carries_traffic_at_once(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    assert_running(driver.apply(doc))
    assert ping(lab.lan_netns, lab.server, timeout=0.5).ok  # the LAN host caches fw's MAC
    driver.apply(HostDesiredState(host=kernel_scope.host))

    assert_running(driver.apply(doc))

    # new veths, new MACs: gratuitous ARP must have updated the neighbours' caches
    assert ping(lab.lan_netns, lab.server, timeout=0.5).ok


def test_a_function_dropped_from_the_document_is_collected(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    spare = FunctionNamespace(name=kernel_scope.ns("spare"), owner="vnf-spare", kind="router")
    with_spare = doc.model_copy(update={"namespaces": [*doc.namespaces, spare]})
    assert_running(driver.apply(with_spare))
    assert kernel_scope.ns("spare") in netns_names()

    assert_running(driver.apply(doc))

    assert kernel_scope.ns("spare") not in netns_names()
    assert {kernel_scope.ns("fw"), kernel_scope.ns("nat")} <= netns_names()


# ---------------------------------------------------------------- the script baseline


def comparable_objects(scope: KernelScope, lab: LabSite) -> dict[str, Any]:
    """What both realisations must agree on, without kernel-assigned identities."""
    view: dict[str, Any] = {}
    for ns in (lab.host_netns, scope.ns("fw"), scope.ns("nat")):
        links = {}
        for link in ip_json(ns, "-d", "addr", "show"):
            links[link["ifname"]] = {
                "kind": link.get("linkinfo", {}).get("info_kind"),
                "master": link.get("master"),
                "up": "UP" in link["flags"],
                "alias": link.get("ifalias"),
                "addrs": sorted(
                    f"{i['local']}/{i['prefixlen']}"
                    for i in link["addr_info"]
                    if i["family"] == "inet"
                ),
            }
        routes = sorted(
            (
                r["dst"],
                r.get("gateway"),
                r["dev"],
                r.get("protocol"),
                "onlink" in r.get("flags", []),
            )
            for r in ip_json(ns, "route", "show")
        )
        view[ns] = {"links": links, "routes": routes}
        if ns != lab.host_netns:
            view[ns]["nft"] = [_without_identity(o) for o in nft_ruleset(ns)]
            view[ns]["forwarding"] = run(
                "ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"
            ).strip()
    return view


def _without_identity(obj: Any) -> Any:
    if isinstance(obj, dict):
        out = {k: _without_identity(v) for k, v in obj.items() if k != "handle"}
        if "counter" in out and isinstance(out["counter"], dict):
            out["counter"] = "counter"
        return out
    if isinstance(obj, list):
        return [_without_identity(v) for v in obj]
    return obj


def test_the_plain_script_creates_the_same_objects(
    kernel_scope: KernelScope, lab: LabSite, driver: LinuxDriver
) -> None:
    doc = chain_document(kernel_scope, lab)
    assert_running(driver.apply(doc))
    by_driver = comparable_objects(kernel_scope, lab)
    driver.apply(HostDesiredState(host=kernel_scope.host))

    script = render_script(doc, lab.host_netns)
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    print(f"script: {(time.perf_counter() - started) * 1000:.1f} ms")

    assert comparable_objects(kernel_scope, lab) == by_driver
    # the driver recognises the script's objects as its own: nothing to redo
    before = kernel_snapshot(kernel_scope, lab)
    assert_running(driver.apply(doc))
    assert kernel_snapshot(kernel_scope, lab) == before
