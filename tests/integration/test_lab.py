"""The lab site and its traffic probes, read back with `ip -j`."""

from __future__ import annotations

import pytest

from cloudcpe.nfvi.linux.lab import (
    LabSite,
    TcpServer,
    cleanup_prefix,
    hold_connection,
    ping,
    tcp_connect,
)
from tests.integration.conftest import KernelScope, ip_json, netns_names, run

pytestmark = pytest.mark.kernel


def addresses(netns: str, dev: str) -> set[str]:
    (link,) = ip_json(netns, "addr", "show", "dev", dev)
    return {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["family"] == "inet"}


def link_indexes(netns: str) -> dict[str, int]:
    return {link["ifname"]: link["ifindex"] for link in ip_json(netns, "link", "show")}


def test_up_builds_the_site_and_is_idempotent(kernel_scope: KernelScope) -> None:
    lab = LabSite(kernel_scope.lab_name, lan_prefix="10.1.2.0/24")
    lab.up()
    indexes = {ns: link_indexes(ns) for ns in lab.namespaces}
    lab.up()

    assert {ns: link_indexes(ns) for ns in lab.namespaces} == indexes
    assert lab.namespaces == [
        f"ccpe-lab-{kernel_scope.lab_name}-cpe",
        f"ccpe-lab-{kernel_scope.lab_name}-lan",
        f"ccpe-lab-{kernel_scope.lab_name}-inet",
    ]
    assert lab.cpe_netns == lab.host_netns
    ports = {link["ifname"]: link for link in ip_json(lab.host_netns, "-d", "link", "show")}
    assert ports[lab.lan_port]["linkinfo"]["info_kind"] == "veth"
    assert "UP" in ports[lab.wan_port]["flags"]
    assert addresses(lab.lan_netns, "ccpe-eth0") == {"10.1.2.10/24"}
    assert str(lab.lan_gateway) == "10.1.2.1/24"
    assert ip_json(lab.lan_netns, "route", "show", "default")[0]["gateway"] == "10.1.2.1"
    assert addresses(lab.inet_netns, "ccpe-eth0") == {"203.0.113.1/24"}
    lab.down()
    lab.down()
    assert not set(lab.namespaces) & netns_names()


def test_down_cleans_a_half_built_site(kernel_scope: KernelScope) -> None:
    lab = LabSite(kernel_scope.lab_name)
    run("ip", "netns", "add", lab.host_netns)
    run("ip", "-n", lab.host_netns, "link", "add", "ccpe-lan", "type", "bridge")
    with pytest.raises(LookupError):  # the port exists but is no veth to the LAN host
        lab.up()

    lab.down()

    assert not set(lab.namespaces) & netns_names()


def test_up_completes_a_half_built_site(kernel_scope: KernelScope) -> None:
    lab = LabSite(kernel_scope.lab_name)
    run("ip", "netns", "add", lab.host_netns)
    with lab:
        assert tcp_connect(lab.inet_netns, lab.server, 1, timeout=0.5).error == "Connection refused"
    assert not set(lab.namespaces) & netns_names()


def test_probes_see_servers_sources_and_blocked_paths(lab: LabSite) -> None:
    with TcpServer(lab.inet_netns, 80) as web:
        result = tcp_connect(lab.inet_netns, lab.server, 80, timeout=2)
        assert result.ok and result.error is None and result.seconds < 2
        assert web.peers == [str(lab.server)]
        with hold_connection(lab.inet_netns, lab.server, 80) as held:
            assert held.exchange(b"one\n") == b"one\n"
            assert held.exchange(b"two\n") == b"two\n"
    refused = tcp_connect(lab.inet_netns, lab.server, 80, timeout=1)
    assert not refused.ok and refused.error == "Connection refused"
    # nothing routes the LAN to the internet until a chain is applied
    unreachable = tcp_connect(lab.lan_netns, lab.server, 80, timeout=0.3)
    assert not unreachable.ok
    assert ping(lab.inet_netns, lab.server).ok
    assert not ping(lab.lan_netns, lab.lan_gateway.ip, timeout=0.3).ok


def test_cleanup_prefix_removes_every_lab_namespace(kernel_scope: KernelScope) -> None:
    lab = LabSite(kernel_scope.lab_name)
    lab.up()

    removed = cleanup_prefix(f"ccpe-lab-{kernel_scope.lab_name}-")

    assert sorted(removed) == sorted(lab.namespaces)
    assert not set(lab.namespaces) & netns_names()


def test_provider_network_joins_sites_and_pops_and_goes_away(kernel_scope: KernelScope) -> None:
    from cloudcpe.nfvi.linux.lab import LabPop, LabProvider

    name = kernel_scope.lab_name
    provider = LabProvider(f"{name}-p")
    pop = LabPop(f"{name}-pop", provider, nodes=2)
    site = LabSite(
        f"{name}-s", wan_address="203.0.113.10/29", wan_gateway="203.0.113.9", provider=provider
    )
    try:
        for _ in range(2):  # idempotent
            provider.up()
            pop.up()
            site.up()
        assert site.inet_netns == provider.netns and site.server == provider.server
        assert site.namespaces == [site.host_netns, site.lan_netns]
        assert addresses(provider.netns, site.provider_port) == {"203.0.113.9/29"}
        assert "192.0.2.1/32" in addresses(provider.netns, "lo")
        for ns in pop.namespaces:
            (up,) = ip_json(ns, "link", "show", "dev", pop.uplink_port)
            assert "UP" in up["flags"]
        # every compute node's uplink hangs on one bridge of the router holding the gateway
        bridges = [x for x in ip_json(provider.netns, "-d", "link", "show", "type", "bridge")]
        (bridge,) = bridges
        assert addresses(provider.netns, bridge["ifname"]) == {"198.51.100.1/24"}
        ports = ip_json(provider.netns, "link", "show", "master", bridge["ifname"])
        assert len(ports) == 2
        assert str(pop.node_address(1)) == "198.51.100.11/24"
    finally:
        site.down()
        pop.down()
        provider.down()
    left = {n for n in netns_names() if n.startswith(f"ccpe-lab-{name}-")}
    assert not left
