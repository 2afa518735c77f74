"""Cloud sites end to end on the real kernel: the product API orders services for sites
whose thin CPE reaches its chain on a POP compute node through a WireGuard tunnel, the
worker realises every host through the Linux driver (embedded hosts: each one a lab
namespace), and real packets prove it. Kernel state is read back with `ip -j` and `ps`.

The lab: a provider network (the internet server 192.0.2.1 and the router of every site's
WAN and of the POP's uplink segment 198.51.100.0/24), a POP of compute nodes on that
segment, and sites (thin CPE + LAN host) hanging on the provider.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.inventory.models import NfviHost
from cloudcpe.nfvi.linux.lab import LabPop, LabProvider, LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.integration.conftest import KernelScope, ip_json, netns_names, run
from tests.support import (
    create_cloud_site,
    create_compute_node,
    create_device,
    create_nsd,
    create_pop,
    create_site,
    create_tenant,
    ok,
    order_service,
    wait_operation,
)

pytestmark = pytest.mark.kernel


@dataclass
class World:
    """The lab and the orchestrator's view of it, for one test."""

    client: TestClient
    operator: dict[str, str]
    scope: KernelScope
    provider: LabProvider
    pop_lab: LabPop
    pop: dict[str, Any] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    sites: list[LabSite] = field(default_factory=list)
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def tenant(self, name: str) -> dict[str, Any]:
        if name not in self.tenants:
            self.tenants[name] = create_tenant(self.client, self.operator, name)
        return self.tenants[name]

    def lab_site(self, n: int, lan: str) -> LabSite:
        site = LabSite(
            f"{self.scope.lab_name}-s{n}",
            lan_prefix=lan,
            wan_address=f"203.0.113.{8 * n + 2}/29",
            wan_gateway=f"203.0.113.{8 * n + 1}",
            provider=self.provider,
        )
        self.sites.append(site)
        site.up()
        return site

    def watch(self, host_key: str) -> None:
        """The leak check covers this host's namespaces and tunnels too."""
        self.scope.extra_hosts.append(host_key)

    def cloud_site(self, tenant: str, n: int, lan: str) -> tuple[LabSite, dict[str, Any]]:
        lab = self.lab_site(n, lan)
        site = create_cloud_site(
            self.client,
            self.operator,
            self.tenant(tenant)["id"],
            f"{tenant}-{n}",
            self.pop["id"],
            lan,
        )
        device = self.device(lab, site, f"{tenant}-{n}-cpe")
        return lab, {"site": site, "device": device}

    def device(self, lab: LabSite, site: dict[str, Any], name: str) -> dict[str, Any]:
        device = create_device(
            self.client,
            self.operator,
            site["id"],
            name,
            netns=lab.host_netns,
            wan_address=str(lab.wan_address),
            wan_gateway=str(lab.wan_gateway),
        )
        self.watch(device["host_key"])
        return device


@pytest.fixture
def world(
    client: TestClient,
    operator: dict[str, str],
    factory: SessionFactory,
    kernel_scope: KernelScope,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    marker = request.node.get_closest_marker("pop")
    nodes, capacity = marker.args if marker else (2, 20)
    provider = LabProvider(f"{kernel_scope.lab_name}-net")
    pop_lab = LabPop(f"{kernel_scope.lab_name}-pop", provider, nodes=nodes)
    w = World(client, operator, kernel_scope, provider, pop_lab)
    try:
        provider.up()
        pop_lab.up()
        w.pop = create_pop(client, operator, "paris", str(pop_lab.pool))
        for i, netns in enumerate(pop_lab.namespaces, start=1):
            node = create_compute_node(
                client,
                operator,
                w.pop["id"],
                f"cn{i}",
                str(pop_lab.node_address(i)),
                netns=netns,
                uplink_port=pop_lab.uplink_port,
                max_functions=capacity,
            )
            w.nodes.append(node)
            w.watch(node["host_key"])
        yield w
    finally:
        # also after a failed test: every host converges to nothing (tunnels stopped first)
        with unit_of_work(factory) as s:
            for host in s.scalars(select(NfviHost)):
                EmbeddedHosts().converge(host, HostDesiredState(host=host.host_key))
        for site in w.sites:
            site.down()
        pop_lab.down()
        provider.down()


def namespaces_of(host_key: str) -> set[str]:
    return {n for n in netns_names() if n.startswith(f"ccpe-{host_key}-")}


def first_packet(lab: LabSite, port: int = 80, timeout: float = 5.0) -> float:
    """Seconds until a TCP connection from the LAN host to the server works."""
    start = time.monotonic()
    while True:
        if tcp_connect(lab.lan_netns, lab.server, port, timeout=0.5).ok:
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, "no connection through the chain"


SITES_FIREWALL = {
    "rules": [
        {"action": "deny", "protocol": "tcp", "dst_ports": [8080]},
        {"action": "allow", "src": "192.168.0.0/16"},
    ]
}


def nsd(world: World, name: str = "secure-internet") -> dict[str, Any]:
    chain = [
        {"name": "fw", "function": "firewall", "params": SITES_FIREWALL},
        {"name": "nat", "function": "nat"},
    ]
    return create_nsd(world.client, world.operator, name=name, chain=chain)


def test_a_cloud_site_reaches_the_internet_through_its_chain_in_the_pop(world: World) -> None:
    lab, site = world.cloud_site("acme", 1, "192.168.10.0/24")
    client, operator = world.client, world.operator
    with TcpServer(lab.inet_netns, 80) as web, TcpServer(lab.inet_netns, 8080):
        started = time.monotonic()
        done = order_service(client, operator, site["site"]["id"], nsd(world)["id"])
        assert done["op"]["operation_state"] == "COMPLETED", done["op"]
        waited = first_packet(lab)
        print(
            f"instantiate -> first packet: {time.monotonic() - started:.3f} s "
            f"(first packet {waited:.3f} s after COMPLETED)"
        )
        assert not tcp_connect(lab.lan_netns, lab.server, 8080, timeout=0.5).ok  # denied
        assert set(web.peers) == {"198.51.100.129"}  # NAT to the chain's POP-pool address

    # the thin CPE runs no function; the chain runs on the first compute node
    cpe_key, node = site["device"]["host_key"], world.nodes[0]
    (edge,) = namespaces_of(cpe_key)
    assert len(namespaces_of(node["host_key"])) == 3  # firewall, nat, underlay
    tunnels = {n for n in run("ps", "-C", "wireguard-go", "-o", "args=").split() if "ccpe" in n}
    assert {f"ccpe{cpe_key}-0", f"ccpe{node['host_key']}-0"} <= tunnels
    (tun,) = ip_json(edge, "-d", "link", "show", "dev", f"ccpe{cpe_key}-0")
    assert tun["linkinfo"]["info_kind"] == "tun"
    # nothing from the WAN side reaches the LAN, even with a route pointing at the CPE
    run("ip", "-n", lab.inet_netns, "route", "add", "192.168.10.0/24", "via", "203.0.113.10")
    with TcpServer(lab.lan_netns, 22):
        assert not tcp_connect(lab.inet_netns, lab.lan_host.ip, 22, timeout=0.5).ok
    run("ip", "-n", lab.inet_netns, "route", "del", "192.168.10.0/24")
    state = ok(client.get(f"/api/v1/devices/{site['device']['id']}/state", headers=operator))
    assert state["desired"]["tunnels"][0]["private_key"] == "(redacted)"

    resp = client.post(f"/api/v1/ns_instances/{done['ns']['id']}/terminate", headers=operator)
    assert wait_operation(client, operator, ok(resp, 202)["id"])["operation_state"] == "COMPLETED"
    assert not namespaces_of(cpe_key) and not namespaces_of(node["host_key"])
    assert not world.scope.tunnel_leftovers()
    assert not tcp_connect(lab.lan_netns, lab.server, 80, timeout=0.3).ok
    pop = ok(client.get(f"/api/v1/pops/{world.pop['id']}", headers=operator))
    assert (pop["addresses_in_use"], pop["functions_placed"]) == (0, 0)


@pytest.mark.pop(1, 20)
def test_tenants_sharing_a_compute_node_cannot_reach_each_other(world: World) -> None:
    a_lab, a = world.cloud_site("acme", 1, "192.168.10.0/24")
    b_lab, b = world.cloud_site("globex", 2, "192.168.20.0/24")
    service = nsd(world)
    for site in (a, b):
        done = order_service(world.client, world.operator, site["site"]["id"], service["id"])
        assert done["op"]["operation_state"] == "COMPLETED", done["op"]
        site["ns"] = done["ns"]
    with TcpServer(a_lab.inet_netns, 80) as web:
        first_packet(a_lab)
        first_packet(b_lab)
        assert set(web.peers) == {"198.51.100.129", "198.51.100.130"}

    # A's LAN host serves; B tries its LAN address and its public address
    with TcpServer(a_lab.lan_netns, 80) as a_server:
        assert not tcp_connect(b_lab.lan_netns, a_lab.lan_host.ip, 80, timeout=0.5).ok
        assert not tcp_connect(b_lab.lan_netns, "198.51.100.129", 80, timeout=0.5).ok
        assert a_server.peers == []

    # the independent view: each tenant's namespaces form a component of their own (the
    # compute node's own namespace, whose bridge is the public uplink segment, aside)
    node_key = world.nodes[0]["host_key"]
    host_ns = world.pop_lab.node_netns(1)
    a_part = component(tunnel_namespace(node_key, 0), exclude=host_ns)
    b_part = component(tunnel_namespace(node_key, 1), exclude=host_ns)
    assert len(a_part) == len(b_part) == 2 and not a_part & b_part
    ul = f"ccpe-{node_key}-ul"
    assert ul not in a_part | b_part
    assert veth_neighbours(ul) == {host_ns}
    assert {r["dst"] for r in ip_json(ul, "route", "show")} == {"default", "198.51.100.0/24"}
    # inside A, B's LAN is just the internet (out to the uplink), and the reverse
    for part, other_lan in ((a_part, "192.168.20.10"), (b_part, "192.168.10.10")):
        for ns in part:
            (route,) = ip_json(ns, "route", "get", other_lan)
            assert route["dev"] == "ccpe-out", (ns, route)

    # nor can B's thin CPE join A's tunnel: aimed at its port with A's (public) peer key,
    # B's handshake gets no answer, and A's end still knows A's CPE only
    a_state = ok(
        world.client.get(f"/api/v1/devices/{a['device']['id']}/state", headers=world.operator)
    )
    a_node_key = a_state["desired"]["tunnels"][0]["peers"][0]["public_key"]
    b_tunnel = f"ccpe{b['device']['host_key']}-0"
    uapi(
        b_tunnel,
        f"set=1\npublic_key={base64.b64decode(a_node_key).hex()}\n"
        "endpoint=198.51.100.11:51820\npersistent_keepalive_interval=1\nallowed_ip=10.9.9.9/32\n\n",
    )
    time.sleep(1.5)
    peers = uapi(b_tunnel, "get=1\n\n").split("public_key=")[1:]
    (towards_a,) = [p for p in peers if p.startswith(base64.b64decode(a_node_key).hex())]
    assert "last_handshake_time_sec=0" in towards_a
    a_end = uapi(f"ccpe{node_key}-0", "get=1\n\n")
    assert a_end.count("public_key=") == 1
    assert "endpoint=203.0.113.10:51820" in a_end  # A's thin CPE, never B's 203.0.113.18


def uapi(ifname: str, request: str) -> str:
    """Talk to a tunnel's control socket directly (not through the driver)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(f"/var/run/wireguard/{ifname}.sock")
        sock.sendall(request.encode())
        answer = b""
        while not answer.endswith(b"\n\n"):
            answer += sock.recv(65536)
    return answer.decode()


def tunnel_namespace(host_key: str, slot: int) -> str:
    """The namespace holding the compute node's end of tunnel `slot` (read with ip -j)."""
    ifname = f"ccpe{host_key}-{slot}"
    found = [
        ns
        for ns in namespaces_of(host_key)
        if any(link["ifname"] == ifname for link in ip_json(ns, "link", "show"))
    ]
    assert len(found) == 1, (ifname, found)
    return found[0]


def veth_neighbours(netns: str) -> set[str]:
    """The namespaces the veths of `netns` lead to."""
    names = {
        e["nsid"]: e.get("name", f"nsid {e['nsid']}") for e in ip_json(netns, "netns", "list-id")
    }
    links = ip_json(netns, "-d", "link", "show", "type", "veth")
    return {names.get(x["link_netnsid"], "?") for x in links if "link_netnsid" in x}


def component(start: str, exclude: str) -> set[str]:
    """The namespaces reachable from `start` over veths, not passing through `exclude`."""
    seen, todo = {start}, [start]
    while todo:
        for neighbour in veth_neighbours(todo.pop()) - {exclude}:
            if neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen


@pytest.mark.pop(2, 2)
def test_chains_spread_over_two_nodes_and_a_full_pop_is_refused(world: World) -> None:
    service = nsd(world)  # two functions: each node has room for one chain
    labs = []
    for n, tenant in ((1, "acme"), (2, "globex")):
        lab, site = world.cloud_site(tenant, n, f"192.168.{n}0.0/24")
        done = order_service(world.client, world.operator, site["site"]["id"], service["id"])
        assert done["op"]["operation_state"] == "COMPLETED", done["op"]
        labs.append(lab)
    one, two = (n["host_key"] for n in world.nodes)
    assert len(namespaces_of(one)) == len(namespaces_of(two)) == 3  # fw, nat, underlay
    with TcpServer(world.provider.netns, 80) as web:
        for lab in labs:
            first_packet(lab)
        assert set(web.peers) == {"198.51.100.129", "198.51.100.130"}

    before = netns_names()
    _, full = world.cloud_site("acme", 3, "192.168.30.0/24")
    resp = world.client.post(
        "/api/v1/ns_instances",
        headers=world.operator,
        json={"name": "too-many", "site_id": full["site"]["id"], "nsd_id": service["id"]},
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    (problem,) = resp.json()["invalid_params"]
    assert problem["name"] == "body.site_id" and "is full" in problem["reason"]
    instances = ok(world.client.get("/api/v1/ns_instances", headers=world.operator))
    assert len(instances) == 2
    assert netns_names() - before == {
        f"ccpe-lab-{world.scope.lab_name}-s3-{x}" for x in ("cpe", "lan")
    }
    pop = ok(world.client.get(f"/api/v1/pops/{world.pop['id']}", headers=world.operator))
    assert (pop["functions_placed"], pop["capacity"], pop["addresses_in_use"]) == (4, 4, 2)


def test_one_descriptor_serves_an_on_premise_and_a_cloud_site_of_one_tenant(
    world: World,
) -> None:
    service = nsd(world)
    # on premise: the chain runs on the site's device, its WAN on the provider network
    hq_lab = world.lab_site(1, "192.168.10.0/24")
    tenant = world.tenant("acme")
    hq = create_site(world.client, world.operator, tenant["id"], "acme-hq", "192.168.10.0/24")
    hq_device = world.device(hq_lab, hq, "acme-hq-cpe")
    # in the cloud: the same descriptor runs on a compute node of the POP
    branch_lab, branch = world.cloud_site("acme", 2, "192.168.20.0/24")
    placed = {}
    for site_id, name in ((hq["id"], "hq"), (branch["site"]["id"], "branch")):
        done = order_service(world.client, world.operator, site_id, service["id"], name)
        assert done["op"]["operation_state"] == "COMPLETED", done["op"]
        got = ok(
            world.client.get(f"/api/v1/ns_instances/{done['ns']['id']}", headers=world.operator)
        )
        placed[name] = {v["host_id"] for v in got["vnf_instances"]}
    assert placed == {"hq": {hq_device["id"]}, "branch": {world.nodes[0]["id"]}}
    assert len(namespaces_of(hq_device["host_key"])) == 2  # fw and nat on the device
    assert len(namespaces_of(branch["device"]["host_key"])) == 1  # the thin CPE: its edge
    with TcpServer(world.provider.netns, 80) as web, TcpServer(world.provider.netns, 8080):
        first_packet(hq_lab)
        first_packet(branch_lab)
        for lab in (hq_lab, branch_lab):
            assert not tcp_connect(lab.lan_netns, lab.server, 8080, timeout=0.3).ok
        assert set(web.peers) == {"203.0.113.10", "198.51.100.129"}
