"""Cloud sites through the API and the LCM, with a recording host gateway instead of a
kernel: placement across a POP's compute nodes, the pool addresses, the tunnel keys, and the
documents each host gets."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloudcpe.inventory.models import NfviHost, PopAddress
from cloudcpe.lcm.models import LcmOperation, NsInstance, SiteTunnel, VnfInstance
from cloudcpe.lcm.tunnels import public_key_of
from cloudcpe.nfvi.model import (
    FunctionStatus,
    HostDesiredState,
    ObservedState,
    TunnelStatus,
)
from cloudcpe.store.db import SessionFactory, unit_of_work
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


class RecordingHosts:
    """A host gateway that records each host's latest document and reports it running."""

    def __init__(self) -> None:
        self.docs: dict[str, HostDesiredState] = {}
        self.order: list[str] = []
        self.broken: set[str] = set()  # namespace kinds that fail

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState:
        self.docs[host.host_key] = desired
        self.order.append(host.role)
        return ObservedState(
            host=desired.host,
            version=desired.version,
            functions=[
                FunctionStatus(
                    owner=n.owner,
                    namespace=n.name,
                    state="failed" if n.kind in self.broken else "running",
                    reason="broken on purpose" if n.kind in self.broken else None,
                )
                for n in desired.namespaces
            ],
            tunnels=[
                TunnelStatus(ifname=t.ifname, netns=t.netns, state="running")
                for t in desired.tunnels
            ],
        )


@pytest.fixture
def recording() -> RecordingHosts:
    return RecordingHosts()


@pytest.fixture
def client(factory: SessionFactory, recording: RecordingHosts) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    with TestClient(create_app(factory, recording, lease_seconds=5)) as c:
        yield c


@pytest.fixture
def pop(client: TestClient, operator: dict[str, str]) -> dict[str, Any]:
    pop = create_pop(client, operator, "paris")
    nodes = [
        create_compute_node(
            client, operator, pop["id"], f"cn{i}", f"198.51.100.1{i}/24", max_functions=4
        )
        for i in (1, 2)
    ]
    return {**pop, "nodes": nodes}


def cloud_site(
    client: TestClient, operator: dict[str, str], pop: dict[str, Any], tenant: str, n: int
) -> dict[str, Any]:
    tenants = {t["name"]: t for t in ok(client.get("/api/v1/tenants", headers=operator))}
    t = tenants.get(tenant) or create_tenant(client, operator, tenant)
    site = create_cloud_site(
        client, operator, t["id"], f"{tenant}-{n}", pop["id"], f"192.168.{n}.0/24"
    )
    device = create_device(
        client,
        operator,
        site["id"],
        f"{tenant}-{n}-cpe",
        wan_address=f"203.0.113.{n * 8 + 2}/29",
        wan_gateway=f"203.0.113.{n * 8 + 1}",
    )
    return {"site": site, "device": device, "tenant": t}


def hosts_of(factory: SessionFactory, ns_id: str) -> set[str]:
    with unit_of_work(factory) as s:
        stmt = select(VnfInstance.host_id).where(VnfInstance.ns_instance_id == ns_id)
        return set(s.scalars(stmt))


def counts(factory: SessionFactory) -> tuple[int, ...]:
    with unit_of_work(factory) as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (NsInstance, LcmOperation, VnfInstance, PopAddress, SiteTunnel)
        )


def test_chains_spread_least_loaded_first_and_a_full_pop_is_refused(
    client: TestClient, operator: dict[str, str], factory: SessionFactory, pop: dict[str, Any]
) -> None:
    nsd = create_nsd(client, operator)  # 2 functions; each node runs 4
    cn1, cn2 = (n["id"] for n in pop["nodes"])
    placed = []
    for n in range(1, 5):
        site = cloud_site(client, operator, pop, "acme" if n % 2 else "globex", n)
        done = order_service(client, operator, site["site"]["id"], nsd["id"], f"svc{n}")
        assert done["op"]["operation_state"] == "COMPLETED", done["op"]
        placed.append(hosts_of(factory, done["ns"]["id"]))
    # tie -> by name; then the emptier node; a chain never spans nodes
    assert placed == [{cn1}, {cn2}, {cn1}, {cn2}]
    nodes = ok(client.get(f"/api/v1/pops/{pop['id']}/compute_nodes", headers=operator))
    assert [(n["functions_placed"], n["load"]) for n in nodes] == [(4, 1.0), (4, 1.0)]
    got = ok(client.get(f"/api/v1/pops/{pop['id']}", headers=operator))
    assert (got["functions_placed"], got["capacity"], got["addresses_in_use"]) == (8, 8, 4)

    before = counts(factory)
    site = cloud_site(client, operator, pop, "acme", 5)
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={"name": "one-too-many", "site_id": site["site"]["id"], "nsd_id": nsd["id"]},
    )
    assert resp.status_code == 422, resp.text
    (problem,) = resp.json()["invalid_params"]
    assert problem["name"] == "body.site_id"
    assert "POP 'paris' is full" in problem["reason"] and "cn1 4/4" in problem["reason"]
    assert counts(factory) == before  # nothing stored


def test_instantiating_into_a_full_pop_stores_no_operation(
    client: TestClient, operator: dict[str, str], factory: SessionFactory, pop: dict[str, Any]
) -> None:
    small = create_nsd(client, operator, name="small", chain=[{"name": "nat", "function": "nat"}])
    big = create_nsd(
        client,
        operator,
        name="big",
        chain=[{"name": f"r{i}", "function": "router"} for i in range(4)],
    )
    waiting = cloud_site(client, operator, pop, "acme", 1)
    ns = ok(
        client.post(
            "/api/v1/ns_instances",
            headers=operator,
            json={"name": "waits", "site_id": waiting["site"]["id"], "nsd_id": big["id"]},
        ),
        201,
    )
    for n in (2, 3):  # one function on each node: no node has room for 4 any more
        site = cloud_site(client, operator, pop, "acme", n)
        assert (
            order_service(client, operator, site["site"]["id"], small["id"])["op"][
                "operation_state"
            ]
            == "COMPLETED"
        )
    before = counts(factory)
    resp = client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=operator)
    assert resp.status_code == 422, resp.text
    assert resp.json()["invalid_params"][0]["name"] == "body.site_id"
    assert counts(factory) == before
    got = ok(client.get(f"/api/v1/ns_instances/{ns['id']}", headers=operator))
    assert (got["ns_state"], got["vnf_instances"]) == ("NOT_INSTANTIATED", [])


def test_pool_addresses_are_never_shared_and_come_back_on_terminate(
    client: TestClient, operator: dict[str, str], factory: SessionFactory
) -> None:
    pop = create_pop(client, operator, "tiny", "198.51.100.128/30")  # two usable addresses
    create_compute_node(client, operator, pop["id"], "cn1")
    nsd = create_nsd(client, operator)
    first = order_service(
        client, operator, cloud_site(client, operator, pop, "acme", 1)["site"]["id"], nsd["id"]
    )
    second = order_service(
        client, operator, cloud_site(client, operator, pop, "acme", 2)["site"]["id"], nsd["id"]
    )
    with unit_of_work(factory) as s:
        held = {a.ns_instance_id: a.address for a in s.scalars(select(PopAddress))}
    assert held == {first["ns"]["id"]: "198.51.100.129", second["ns"]["id"]: "198.51.100.130"}

    third = cloud_site(client, operator, pop, "acme", 3)
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={"name": "x", "site_id": third["site"]["id"], "nsd_id": nsd["id"]},
    )
    assert resp.status_code == 422
    assert "no public address left" in resp.json()["invalid_params"][0]["reason"]

    resp = client.post(f"/api/v1/ns_instances/{first['ns']['id']}/terminate", headers=operator)
    op = ok(resp, 202)
    assert wait_operation(client, operator, op["id"])["operation_state"] == "COMPLETED"
    with unit_of_work(factory) as s:
        assert [a.address for a in s.scalars(select(PopAddress))] == ["198.51.100.130"]
        assert s.scalar(select(func.count()).select_from(SiteTunnel)) == 1
    # the freed address goes to the next chain
    again = order_service(client, operator, third["site"]["id"], nsd["id"])
    assert again["op"]["operation_state"] == "COMPLETED"
    with unit_of_work(factory) as s:
        got = s.scalar(
            select(PopAddress.address).where(PopAddress.ns_instance_id == again["ns"]["id"])
        )
    assert got == "198.51.100.129"


def test_one_descriptor_runs_on_a_device_on_premise_and_in_the_pop_for_a_cloud_site(
    client: TestClient,
    operator: dict[str, str],
    factory: SessionFactory,
    pop: dict[str, Any],
    recording: RecordingHosts,
) -> None:
    cloud = cloud_site(client, operator, pop, "acme", 1)
    hq = create_site(client, operator, cloud["tenant"]["id"], "acme-hq", "192.168.100.0/24")
    device = create_device(client, operator, hq["id"], "acme-hq-cpe")
    nsd = create_nsd(client, operator)
    on_prem = order_service(client, operator, hq["id"], nsd["id"], "hq-internet")
    in_pop = order_service(client, operator, cloud["site"]["id"], nsd["id"], "branch-internet")
    assert hosts_of(factory, on_prem["ns"]["id"]) == {device["id"]}
    assert hosts_of(factory, in_pop["ns"]["id"]) == {pop["nodes"][0]["id"]}
    # the thin CPE runs no function, only the site edge
    thin = recording.docs[cloud["device"]["host_key"]]
    assert [n.kind for n in thin.namespaces] == ["site-edge"]
    assert recording.order[-2:] == ["compute", "cpe"]  # the node is ready first


def test_documents_tie_the_two_ends_and_never_show_a_private_key(
    client: TestClient,
    operator: dict[str, str],
    factory: SessionFactory,
    pop: dict[str, Any],
    recording: RecordingHosts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    site = cloud_site(client, operator, pop, "acme", 1)
    done = order_service(client, operator, site["site"]["id"], create_nsd(client, operator)["id"])
    assert done["op"]["operation_state"] == "COMPLETED", done["op"]
    node = pop["nodes"][0]
    cpe_doc = recording.docs[site["device"]["host_key"]]
    node_doc = recording.docs[node["host_key"]]

    (cpe_end,) = cpe_doc.tunnels
    (pop_end,) = node_doc.tunnels
    assert cpe_end.netns == cpe_end.home  # the CPE's process runs in its edge namespace
    assert pop_end.underlay_netns == f"ccpe-{node['host_key']}-ul"
    assert pop_end.netns == node_doc.namespaces[0].name  # the chain's first function
    assert public_key_of(cpe_end.private_key.get_secret_value()) == pop_end.peers[0].public_key
    assert public_key_of(pop_end.private_key.get_secret_value()) == cpe_end.peers[0].public_key
    endpoint = cpe_end.peers[0].endpoint
    assert endpoint is not None
    assert (str(endpoint.address), endpoint.port) == ("198.51.100.11", pop_end.listen_port)
    assert [str(n) for n in pop_end.peers[0].allowed_ips] == ["100.64.255.2/32", "192.168.1.0/24"]
    assert [n.kind for n in node_doc.namespaces] == ["firewall", "nat", "underlay"]
    (nat_wan,) = [link.a for link in node_doc.links if link.a.netns == node_doc.namespaces[1].name]
    assert [str(a) for a in nat_wan.addresses] == ["198.51.100.129/24"]

    secrets_ = [cpe_end.private_key.get_secret_value(), pop_end.private_key.get_secret_value()]
    secrets_ += [base64.b64decode(k).hex() for k in secrets_]
    for path in (
        f"/api/v1/devices/{site['device']['id']}/state",
        f"/api/v1/compute_nodes/{node['id']}/state",
        f"/api/v1/ns_instances/{done['ns']['id']}",
        f"/api/v1/ns_lcm_op_occs/{done['op']['id']}",
    ):
        text = client.get(path, headers=operator).text
        assert not any(k in text for k in secrets_), path
    assert caplog.records and not any(k in caplog.text for k in secrets_)
    state = ok(client.get(f"/api/v1/devices/{site['device']['id']}/state", headers=operator))
    assert state["desired"]["tunnels"][0]["private_key"] == "(redacted)"
    assert state["observed"]["tunnels"][0]["state"] == "running"
    assert json.dumps(state).count("public_key") == 1


def test_a_cloud_site_is_served_by_one_chain_at_a_time(
    client: TestClient, operator: dict[str, str], pop: dict[str, Any]
) -> None:
    site = cloud_site(client, operator, pop, "acme", 1)
    nsd = create_nsd(client, operator)
    first = order_service(client, operator, site["site"]["id"], nsd["id"], "first")
    assert first["op"]["operation_state"] == "COMPLETED"
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={"name": "second", "site_id": site["site"]["id"], "nsd_id": nsd["id"]},
    )
    assert resp.status_code == 422
    (problem,) = resp.json()["invalid_params"]
    assert problem["name"] == "body.site_id"
    assert "already served by NS instance 'first'" in problem["reason"]
    # once the first is terminated, the site takes another chain
    resp = client.post(f"/api/v1/ns_instances/{first['ns']['id']}/terminate", headers=operator)
    assert wait_operation(client, operator, ok(resp, 202)["id"])["operation_state"] == "COMPLETED"
    second = order_service(client, operator, site["site"]["id"], nsd["id"], "second")
    assert second["op"]["operation_state"] == "COMPLETED"


def test_a_cloud_site_without_a_thin_cpe_cannot_order(
    client: TestClient, operator: dict[str, str], pop: dict[str, Any]
) -> None:
    tenant = create_tenant(client, operator, "acme")
    site = create_cloud_site(client, operator, tenant["id"], "bare", pop["id"])
    nsd = create_nsd(client, operator)
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={"name": "x", "site_id": site["id"], "nsd_id": nsd["id"]},
    )
    assert resp.status_code == 422
    assert "no thin CPE" in resp.json()["invalid_params"][0]["reason"]


def test_a_failed_cloud_instantiation_rolls_back_to_nothing(
    client: TestClient,
    operator: dict[str, str],
    factory: SessionFactory,
    pop: dict[str, Any],
    recording: RecordingHosts,
) -> None:
    site = cloud_site(client, operator, pop, "acme", 1)
    recording.broken = {"underlay"}
    done = order_service(client, operator, site["site"]["id"], create_nsd(client, operator)["id"])
    assert done["op"]["operation_state"] == "FAILED_TEMP"
    assert "function 'underlay'" in done["op"]["error"]["detail"]
    assert counts(factory)[2:] == (2, 1, 1)  # functions, address and tunnel are held
    recording.broken = set()
    resp = client.post(f"/api/v1/ns_lcm_op_occs/{done['op']['id']}/rollback", headers=operator)
    assert wait_operation(client, operator, ok(resp, 202)["id"])["operation_state"] == "ROLLED_BACK"
    assert counts(factory)[2:] == (0, 0, 0)
    for key in (site["device"]["host_key"], pop["nodes"][0]["host_key"]):
        doc = recording.docs[key]
        assert (doc.namespaces, doc.tunnels, doc.links) == ([], [], [])


def test_updating_a_cloud_chain_touches_only_its_compute_node(
    client: TestClient,
    operator: dict[str, str],
    pop: dict[str, Any],
    recording: RecordingHosts,
) -> None:
    site = cloud_site(client, operator, pop, "acme", 1)
    done = order_service(client, operator, site["site"]["id"], create_nsd(client, operator)["id"])
    cpe_doc = recording.docs[site["device"]["host_key"]]
    node_version = recording.docs[pop["nodes"][0]["host_key"]].version
    rules = {"rules": [{"action": "allow", "protocol": "icmp"}]}
    resp = client.post(
        f"/api/v1/ns_instances/{done['ns']['id']}/update",
        headers=operator,
        json={"vnf_params": {"fw": rules}},
    )
    assert wait_operation(client, operator, ok(resp, 202)["id"])["operation_state"] == "COMPLETED"
    assert recording.docs[pop["nodes"][0]["host_key"]].version == node_version + 1
    assert recording.docs[site["device"]["host_key"]] == cpe_doc
