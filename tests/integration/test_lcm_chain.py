"""End to end on the real kernel: the product API orders a chain, the worker realises it
through the Linux NFVI driver on a lab CPE device, and real packets prove it."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.inventory.models import NfviHost
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.linux.netns import netns_socket
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.support import (
    FIREWALL,
    create_device,
    create_nsd,
    create_site,
    create_tenant,
    ok,
    wait_operation,
)

pytestmark = pytest.mark.kernel
GW = "203.0.113.1"


def netns_names() -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return {n["name"] for n in json.loads(out or "[]")}


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
    # teardown also after a failed test: remove whatever the test left on its host
    with unit_of_work(factory) as s:
        for dev in s.scalars(select(NfviHost)):
            EmbeddedHosts().converge(dev, HostDesiredState(host=dev.host_key))
    assert not {n for n in netns_names() if n.startswith(prefix)}


def order(
    client: TestClient,
    operator: dict[str, str],
    acme: dict[str, Any],
    chain: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    nsd = create_nsd(client, operator, name=f"svc-{secrets.token_hex(2)}", chain=chain)
    ns = ok(
        client.post(
            "/api/v1/ns_instances",
            headers=operator,
            json={"name": "svc", "site_id": acme["site"]["id"], "nsd_id": nsd["id"]},
        ),
        201,
    )
    resp = client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=operator)
    op = ok(resp, 202)
    assert resp.headers["location"] == f"/api/v1/ns_lcm_op_occs/{op['id']}"
    return ns, wait_operation(client, operator, op["id"])


def fw_namespace(acme: dict[str, Any]) -> str:
    names = sorted(n for n in netns_names() if n.startswith(acme["prefix"]))
    assert names, "no function namespaces"
    for name in names:
        tables = nft_tables(name)
        if ("inet", "ccpe") in tables:
            return name
    raise AssertionError(f"no firewall namespace among {names}")


def nft_tables(netns: str) -> set[tuple[str, str]]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-j", "list", "tables"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        (o["table"]["family"], o["table"]["name"])
        for o in json.loads(out)["nftables"]
        if "table" in o
    }


def test_instantiate_passes_real_traffic_then_terminate_leaves_nothing(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], lab: LabSite
) -> None:
    ns, op = order(client, operator, acme)
    assert op["operation_state"] == "COMPLETED", op
    assert op["steps_done"] == ["place", "render", "apply"]
    assert len([n for n in netns_names() if n.startswith(acme["prefix"])]) == 2
    with TcpServer(lab.inet_netns, 80) as web, TcpServer(lab.inet_netns, 8080):
        assert tcp_connect(lab.lan_netns, GW, 80, timeout=3).ok
        assert not tcp_connect(lab.lan_netns, GW, 8080, timeout=0.5).ok
        assert set(web.peers) == {"203.0.113.2"}
    got = ok(client.get(f"/api/v1/ns_instances/{ns['id']}", headers=operator))
    assert got["ns_state"] == "INSTANTIATED"
    assert [v["function"] for v in got["vnf_instances"]] == ["firewall", "nat"]
    state = ok(client.get(f"/api/v1/devices/{acme['device']['id']}/state", headers=operator))
    assert state["desired"]["version"] == state["observed"]["version"] == state["version"]
    assert {f["state"] for f in state["observed"]["functions"]} == {"running"}

    op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/terminate", headers=operator), 202)
    assert wait_operation(client, operator, op["id"])["operation_state"] == "COMPLETED"
    assert not [n for n in netns_names() if n.startswith(acme["prefix"])]
    assert not tcp_connect(lab.lan_netns, GW, 80, timeout=0.5).ok
    got = ok(client.get(f"/api/v1/ns_instances/{ns['id']}", headers=operator))
    assert (got["ns_state"], got["vnf_instances"]) == ("NOT_INSTANTIATED", [])


def test_update_applies_new_rules_and_keeps_established_flows(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], lab: LabSite
) -> None:
    ns, op = order(client, operator, acme)
    assert op["operation_state"] == "COMPLETED", op
    with TcpServer(lab.inet_netns, 80), TcpServer(lab.inet_netns, 9000):
        assert tcp_connect(lab.lan_netns, GW, 9000, timeout=3).ok
        held = netns_socket(lab.lan_netns, socket.AF_INET, socket.SOCK_STREAM)
        held.settimeout(3)
        held.connect((GW, 80))
        rules = [
            {"action": "deny", "protocol": "tcp", "dst_ports": [8080, 9000]},
            *FIREWALL["rules"][1:],
        ]
        resp = client.post(
            f"/api/v1/ns_instances/{ns['id']}/update",
            headers=operator,
            json={"vnf_params": {"fw": {"rules": rules}}},
        )
        op = wait_operation(client, operator, ok(resp, 202)["id"])
        assert op["operation_state"] == "COMPLETED", op
        # the established connection still carries data after the ruleset was replaced
        held.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert held.recv(100).startswith(b"HTTP/1.")
        held.close()
        assert not tcp_connect(lab.lan_netns, GW, 9000, timeout=0.5).ok
        assert tcp_connect(lab.lan_netns, GW, 80, timeout=3).ok
    ruleset = subprocess.run(
        ["ip", "netns", "exec", fw_namespace(acme), "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "tcp dport { 8080, 9000 }" in ruleset


def test_kernel_rejection_fails_temp_and_rollback_removes_everything(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    chain = [
        {"name": "fw", "function": "firewall", "params": FIREWALL},
        {
            "name": "r",
            "function": "router",
            "params": {"routes": [{"prefix": "10.20.0.0/16", "via": "10.99.0.1"}]},
        },
        {"name": "nat", "function": "nat"},
    ]
    ns, op = order(client, operator, acme, chain)
    assert op["operation_state"] == "FAILED_TEMP"
    assert op["steps_done"] == ["place", "render"]
    assert "function 'r'" in op["error"]["detail"]
    assert "10.20.0.0/16 via 10.99.0.1" in op["error"]["detail"]
    assert "unreachable" in op["error"]["detail"].lower()
    # a new operation on the instance waits until this one is resolved
    assert (
        client.post(f"/api/v1/ns_instances/{ns['id']}/terminate", headers=operator).status_code
        == 409
    )
    resp = client.post(f"/api/v1/ns_lcm_op_occs/{op['id']}/rollback", headers=operator)
    op = wait_operation(client, operator, ok(resp, 202)["id"])
    assert op["operation_state"] == "ROLLED_BACK", op
    assert not [n for n in netns_names() if n.startswith(acme["prefix"])]
    assert (
        ok(client.get(f"/api/v1/ns_instances/{ns['id']}", headers=operator))["ns_state"]
        == "NOT_INSTANTIATED"
    )
    # rolled back is final: a second rollback is refused
    assert (
        client.post(f"/api/v1/ns_lcm_op_occs/{op['id']}/rollback", headers=operator).status_code
        == 409
    )


def test_retry_resumes_once_the_cause_is_fixed(
    client: TestClient, operator: dict[str, str], lab: LabSite, factory: SessionFactory
) -> None:
    tenant = create_tenant(client, operator, "initech")
    site = create_site(client, operator, tenant["id"], "initech-hq")
    device = create_device(
        client, operator, site["id"], "initech-cpe", netns=lab.host_netns, lan_port="ccpe-lan2"
    )
    prefix = f"ccpe-{device['host_key']}-"
    try:
        nsd = create_nsd(client, operator)
        ns = ok(
            client.post(
                "/api/v1/ns_instances",
                headers=operator,
                json={"name": "svc", "site_id": site["id"], "nsd_id": nsd["id"]},
            ),
            201,
        )
        op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=operator), 202)
        op = wait_operation(client, operator, op["id"])
        assert op["operation_state"] == "FAILED_TEMP"
        assert "ccpe-lan2" in op["error"]["detail"]
        subprocess.run(
            [
                "ip",
                "-n",
                lab.host_netns,
                "link",
                "add",
                "ccpe-lan2",
                "type",
                "veth",
                "peer",
                "name",
                "ccpe-lan2p",
            ],
            check=True,
        )
        resp = client.post(f"/api/v1/ns_lcm_op_occs/{op['id']}/retry", headers=operator)
        op = wait_operation(client, operator, ok(resp, 202)["id"])
        assert op["operation_state"] == "COMPLETED", op
        assert op["steps_done"] == ["place", "render", "apply"]
        assert len([n for n in netns_names() if n.startswith(prefix)]) == 2
    finally:
        with unit_of_work(factory) as s:
            for dev in s.scalars(select(NfviHost)):
                EmbeddedHosts().converge(dev, HostDesiredState(host=dev.host_key))
    assert not [n for n in netns_names() if n.startswith(prefix)]
