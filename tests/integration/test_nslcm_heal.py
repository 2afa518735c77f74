"""End to end on the real kernel through SOL005 NS LCM (/nslcm/v1) only: create and
instantiate an NS instance, change its firewall rules with an update
(MODIFY_VNF_INFORMATION), delete a function's namespace under it and heal it back, then
terminate; real packets prove each step."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.inventory.models import NfviHost
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.integration.conftest import link_names, netns_names, nft_ruleset, run
from tests.support import LAN, create_device, create_nsd, create_site, create_tenant, ok

pytestmark = pytest.mark.kernel
GW = "203.0.113.1"
NS = "/nslcm/v1/ns_instances"


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
    yield {"site": site, "prefix": f"ccpe-{device['host_key']}-"}
    with unit_of_work(factory) as s:
        for host in s.scalars(select(NfviHost)):
            EmbeddedHosts().converge(host, HostDesiredState(host=host.host_key))


def operate(client: TestClient, h: dict[str, str], path: str, body: Any) -> dict[str, Any]:
    resp = client.post(path, json=body, headers=h)
    assert resp.status_code == 202, resp.text
    deadline = time.monotonic() + 60
    while True:
        op: dict[str, Any] = ok(client.get(resp.headers["location"], headers=h))
        if op["operationState"] not in ("PROCESSING", "ROLLING_BACK"):
            assert op["operationState"] == "COMPLETED", op
            return op
        assert time.monotonic() < deadline, op
        time.sleep(0.05)


def test_update_and_heal_through_sol005(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], lab: LabSite
) -> None:
    nsd = create_nsd(client, operator)
    body = {
        "nsdId": nsd["id"],
        "nsName": "edge",
        "nsDescription": "",
        "additionalParams": {"siteId": acme["site"]["id"]},
    }
    ns = ok(client.post(NS, json=body, headers=operator), 201)
    operate(client, operator, f"{NS}/{ns['id']}/instantiate", {"nsFlavourId": "default"})
    ns = ok(client.get(f"{NS}/{ns['id']}", headers=operator))
    fw = next(v for v in ns["vnfInstance"] if v["vnfInstanceName"] == "fw")
    with TcpServer(lab.inet_netns, 80), TcpServer(lab.inet_netns, 8080):
        assert tcp_connect(lab.lan_netns, GW, 80, timeout=5).ok
        assert not tcp_connect(lab.lan_netns, GW, 8080, timeout=0.5).ok

        allow_all = {"rules": [{"action": "allow", "src": LAN}]}
        update = {
            "updateType": "MODIFY_VNF_INFORMATION",
            "modifyVnfInfoData": [
                {"vnfInstanceId": fw["id"], "vnfConfigurableProperties": allow_all}
            ],
        }
        operate(client, operator, f"{NS}/{ns['id']}/update", update)
        assert tcp_connect(lab.lan_netns, GW, 8080, timeout=5).ok  # the new rules

        functions = sorted(n for n in netns_names() if n.startswith(acme["prefix"]))
        assert len(functions) == 2
        for name in functions:
            run("ip", "netns", "del", name)  # the functions vanish under the service
        # (the kernel may keep an unnamed namespace alive while something holds it: what
        # matters is that the named functions the host runs are gone)
        operate(
            client,
            operator,
            f"{NS}/{ns['id']}/heal",
            {"healNsData": {"degreeHealing": "HEAL_RESTORE"}},
        )
        assert sorted(n for n in netns_names() if n.startswith(acme["prefix"])) == functions
        for name in functions:  # re-created, wired, and the firewall with its rules
            assert {"ccpe-in", "ccpe-out"} <= link_names(name)
        assert any(o for name in functions for o in nft_ruleset(name) if "rule" in o)
        assert tcp_connect(lab.lan_netns, GW, 80, timeout=5).ok
        assert tcp_connect(lab.lan_netns, GW, 8080, timeout=5).ok  # healed with the new rules

    operate(client, operator, f"{NS}/{ns['id']}/terminate", {})
    assert not [n for n in netns_names() if n.startswith(acme["prefix"])]
    ok(client.delete(f"{NS}/{ns['id']}", headers=operator), 204)
