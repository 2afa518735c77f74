"""End to end on the real kernel, from ETSI packages: a VNF package whose VDU runs
cloudcpe's firewall, a third-party VNF package (Tacker's sample: two VDUs that are none of
our functions) and an SOL001 NSD whose forwarding path chains them with a built-in NAT are
onboarded through SOL005; the NS is ordered and instantiated through the product API on a
lab CPE device, and real packets go through it."""

from __future__ import annotations

import os
import secrets
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.inventory.models import NfviHost
from cloudcpe.lcm.render import transit_pair
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.linux.netns import netns_socket
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.api.sol005.conftest import needs_samples, onboard_nsd, onboard_package
from tests.catalog import packages as P
from tests.integration.test_lcm_chain import netns_names
from tests.support import create_device, create_site, create_tenant, ok, wait_operation

pytestmark = [pytest.mark.kernel, needs_samples]
GW = "203.0.113.1"
HELLO = "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"


def ping(netns: str, address: str, timeout: float = 2.0) -> bool:
    """One ICMP echo from inside `netns` (a raw socket: no ping binary needed)."""
    ident = os.getpid() & 0xFFFF
    payload = secrets.token_bytes(16)
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    data = header + payload
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    packet = struct.pack("!BBHHH", 8, 0, checksum, ident, 1) + payload
    with netns_socket(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (address, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply, (source, _) = sock.recvfrom(2048)
            except TimeoutError:
                return False
            icmp = reply[(reply[0] & 0x0F) * 4 :]
            if source == address and icmp[0] == 0 and icmp[8:] == payload:
                return True
    return False


@pytest.fixture
def lab() -> Iterator[LabSite]:
    site = LabSite(f"t{secrets.token_hex(3)}")
    try:
        site.up()
        yield site
    finally:
        site.down()


@pytest.fixture
def acme(
    client: TestClient, factory: SessionFactory, operator: dict[str, str], lab: LabSite
) -> Iterator[dict[str, Any]]:
    tenant = create_tenant(client, operator, "acme")
    site = create_site(client, operator, tenant["id"], "acme-hq")
    device = create_device(client, operator, site["id"], "acme-cpe", netns=lab.host_netns)
    prefix = f"ccpe-{device['host_key']}-"
    yield {"site": site, "device": device, "prefix": prefix}
    with unit_of_work(factory) as s:
        for host in s.scalars(select(NfviHost)):
            EmbeddedHosts().converge(host, HostDesiredState(host=host.host_key))
    assert not {n for n in netns_names() if n.startswith(prefix)}


def test_sol001_service_carries_real_traffic(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], lab: LabSite
) -> None:
    firewall = onboard_package(client, operator, P.firewall_package())
    hello = onboard_package(client, operator, P.tacker_package())
    text = P.service_nsd(("fw", P.FW_VNFD_ID), ("hello", HELLO), ("nat", "cloudcpe:nat"))
    nsd = onboard_nsd(client, operator, text)
    assert sorted(nsd["vnfPkgIds"]) == sorted([firewall["id"], hello["id"]])

    order = {"name": "edge", "site_id": acme["site"]["id"], "nsd_id": nsd["id"]}
    ns = ok(client.post("/api/v1/ns_instances", json=order, headers=operator), 201)
    op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=operator), 202)
    op = wait_operation(client, operator, op["id"], timeout=60)
    assert op["operation_state"] == "COMPLETED", op

    got = ok(client.get(f"/api/v1/ns_instances/{ns['id']}", headers=operator))
    assert [(v["name"], v["function"]) for v in got["vnf_instances"]] == [
        ("fw", "firewall"),
        ("hello-vdu1", "connectivity"),
        ("hello-vdu2", "connectivity"),
        ("nat", "nat"),
    ]
    assert len([n for n in netns_names() if n.startswith(acme["prefix"])]) == 4
    with TcpServer(lab.inet_netns, 80) as web, TcpServer(lab.inet_netns, 8080):
        assert tcp_connect(lab.lan_netns, GW, 80, timeout=5).ok  # through all four hops
        assert not tcp_connect(lab.lan_netns, GW, 8080, timeout=0.5).ok  # the VDU's rules
        assert set(web.peers) == {"203.0.113.2"}  # NATed by the built-in function
    # the third-party VDUs are connectivity hops: each answers ping on its connection point
    for hop in (1, 2):
        address = str(transit_pair(hop - 1)[1].ip)
        assert ping(lab.lan_netns, address), f"no echo reply from {address}"
    assert not ping(lab.lan_netns, "100.64.0.254", timeout=0.5)  # nobody: no reply

    op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/terminate", headers=operator), 202)
    assert wait_operation(client, operator, op["id"], timeout=60)["operation_state"] == "COMPLETED"
    assert not [n for n in netns_names() if n.startswith(acme["prefix"])]
