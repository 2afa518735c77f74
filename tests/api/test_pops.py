"""POPs and compute nodes through the product API: operators only; bad input answers 422
naming the field and stores nothing; cloud sites name the POP they are served from."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.store.db import SessionFactory
from tests.conftest import bearer, make_token
from tests.support import (
    POOL,
    create_cloud_site,
    create_compute_node,
    create_pop,
    create_site,
    create_tenant,
    ok,
)


def _problem(resp: Any, status: int = 422) -> list[str]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    return [p["name"] for p in resp.json().get("invalid_params", [])]


@pytest.fixture
def tenant_headers(
    client: TestClient, factory: SessionFactory, operator: dict[str, str]
) -> dict[str, str]:
    tenant = create_tenant(client, operator, "acme")
    return bearer(make_token(factory, "acme-admin", tenant["id"]))


def test_operator_creates_and_reads_pops_and_compute_nodes(
    client: TestClient, operator: dict[str, str]
) -> None:
    resp = client.post(
        "/api/v1/pops", headers=operator, json={"name": "paris", "public_pool": POOL}
    )
    pop = ok(resp, 201)
    assert resp.headers["location"] == f"/api/v1/pops/{pop['id']}"
    assert (pop["public_pool"], pop["compute_nodes"], pop["capacity"]) == (POOL, 0, 0)
    assert (pop["addresses_in_use"], pop["addresses_total"]) == (0, 62)

    one = create_compute_node(client, operator, pop["id"], "cn1")
    two = create_compute_node(
        client, operator, pop["id"], "cn2", address="198.51.100.12/24", max_functions=4
    )
    assert (one["max_functions"], two["max_functions"]) == (20, 4)  # default, configurable
    assert (one["functions_placed"], one["load"]) == (0, 0.0)
    assert one["uplink_port"] == "ccpe-up" and one["uplink_address"] == "198.51.100.11/24"
    assert len(one["host_key"]) == 8

    got = ok(client.get(f"/api/v1/pops/{pop['id']}", headers=operator))
    assert (got["compute_nodes"], got["capacity"], got["functions_placed"]) == (2, 24, 0)
    listed = ok(client.get(f"/api/v1/pops/{pop['id']}/compute_nodes", headers=operator))
    assert [n["name"] for n in listed] == ["cn1", "cn2"]
    assert [n["id"] for n in ok(client.get("/api/v1/compute_nodes", headers=operator))] == [
        one["id"],
        two["id"],
    ]
    assert ok(client.get(f"/api/v1/compute_nodes/{two['id']}", headers=operator)) == two
    assert [p["name"] for p in ok(client.get("/api/v1/pops", headers=operator))] == ["paris"]
    state = ok(client.get(f"/api/v1/compute_nodes/{one['id']}/state", headers=operator))
    assert (state["version"], state["desired"]) == (0, None)


def test_tenants_may_not_create_or_read_pops(
    client: TestClient, operator: dict[str, str], tenant_headers: dict[str, str]
) -> None:
    pop = create_pop(client, operator)
    node = create_compute_node(client, operator, pop["id"], "cn1")
    for method, path, body in (
        ("post", "/api/v1/pops", {"name": "evil", "public_pool": "192.0.2.0/28"}),
        ("get", "/api/v1/pops", None),
        ("get", f"/api/v1/pops/{pop['id']}", None),
        ("get", f"/api/v1/pops/{pop['id']}/compute_nodes", None),
        (
            "post",
            f"/api/v1/pops/{pop['id']}/compute_nodes",
            {
                "name": "x",
                "serial": "x",
                "uplink_address": "198.51.100.20/24",
                "uplink_gateway": "198.51.100.1",
            },
        ),
        ("get", "/api/v1/compute_nodes", None),
        ("get", f"/api/v1/compute_nodes/{node['id']}", None),
        ("get", f"/api/v1/compute_nodes/{node['id']}/state", None),
        ("get", "/api/v1/pops/00000000-0000-0000-0000-000000000000", None),
    ):
        kw = {"json": body} if body is not None else {}
        resp = getattr(client, method)(path, headers=tenant_headers, **kw)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    assert [p["name"] for p in ok(client.get("/api/v1/pops", headers=operator))] == ["pop1"]
    assert len(ok(client.get("/api/v1/compute_nodes", headers=operator))) == 1


def test_unknown_pops_and_compute_nodes_answer_404(
    client: TestClient, operator: dict[str, str]
) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (
        f"/api/v1/pops/{missing}",
        f"/api/v1/pops/{missing}/compute_nodes",
        f"/api/v1/compute_nodes/{missing}",
        f"/api/v1/compute_nodes/{missing}/state",
    ):
        _problem(client.get(path, headers=operator), 404)
    resp = client.post(
        f"/api/v1/pops/{missing}/compute_nodes",
        headers=operator,
        json={
            "name": "x",
            "serial": "x",
            "uplink_address": "198.51.100.20/24",
            "uplink_gateway": "198.51.100.1",
        },
    )
    _problem(resp, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "p", "public_pool": "198.51.100.300/26"}, "body.public_pool"),
        ({"name": "p", "public_pool": "198.51.100.129/26"}, "body.public_pool"),
        ({"name": "p", "public_pool": "198.51.100.160/27"}, "body.public_pool"),  # overlaps
        ({"name": "P!", "public_pool": "192.0.2.0/28"}, "body.name"),
        ({"name": "p"}, "body.public_pool"),
    ],
)
def test_bad_pops_are_refused_naming_the_field(
    client: TestClient, operator: dict[str, str], body: dict[str, Any], field: str
) -> None:
    create_pop(client, operator, "existing")
    assert _problem(client.post("/api/v1/pops", headers=operator, json=body)) == [field]
    assert [p["name"] for p in ok(client.get("/api/v1/pops", headers=operator))] == ["existing"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"uplink_gateway": "10.0.0.1"}, "body.uplink_gateway"),
        ({"uplink_gateway": "198.51.100.11"}, "body.uplink_gateway"),
        ({"uplink_address": "10.1.1.2/24", "uplink_gateway": "10.1.1.1"}, "body.uplink_address"),
        ({"uplink_address": "198.51.100.130/24"}, "body.uplink_address"),  # in the pool
        ({"uplink_gateway": "198.51.100.140"}, "body.uplink_gateway"),  # in the pool
        ({"uplink_address": "198.51.100.11"}, "body.uplink_address"),  # no prefix length: /32
        ({"max_functions": 0}, "body.max_functions"),
        ({"max_functions": 5000}, "body.max_functions"),
        ({"uplink_port": "much-too-long-port"}, "body.uplink_port"),
        ({"netns": "not-ours"}, "body.netns"),
    ],
)
def test_bad_compute_nodes_are_refused_naming_the_field(
    client: TestClient, operator: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    pop = create_pop(client, operator)
    body = {
        "name": "cn1",
        "serial": "SN-1",
        "uplink_address": "198.51.100.11/24",
        "uplink_gateway": "198.51.100.1",
        **changes,
    }
    resp = client.post(f"/api/v1/pops/{pop['id']}/compute_nodes", headers=operator, json=body)
    assert _problem(resp) == [field]
    assert ok(client.get("/api/v1/compute_nodes", headers=operator)) == []


def test_duplicate_compute_nodes_conflict(client: TestClient, operator: dict[str, str]) -> None:
    pop = create_pop(client, operator)
    create_compute_node(client, operator, pop["id"], "cn1")
    for changes in (
        {"serial": "SN-cn1", "uplink_address": "198.51.100.20/24"},  # serial
        {"name": "cn1", "serial": "other", "uplink_address": "198.51.100.20/24"},  # name
        {"name": "cn9", "serial": "other"},  # the tunnel endpoint address
    ):
        body = {
            "name": "cn2",
            "serial": "SN-x",
            "uplink_address": "198.51.100.11/24",
            "uplink_gateway": "198.51.100.1",
            **changes,
        }
        resp = client.post(f"/api/v1/pops/{pop['id']}/compute_nodes", headers=operator, json=body)
        _problem(resp, 409)
    assert len(ok(client.get("/api/v1/compute_nodes", headers=operator))) == 1


def test_cloud_sites_name_their_pop(
    client: TestClient, operator: dict[str, str], tenant_headers: dict[str, str]
) -> None:
    pop = create_pop(client, operator)
    site = create_cloud_site(client, tenant_headers, None, "branch", pop["id"])
    assert (site["kind"], site["pop_id"]) == ("cloud", pop["id"])
    hq = create_site(client, tenant_headers, None, "hq", "192.168.20.0/24")
    assert (hq["kind"], hq["pop_id"]) == ("on_premise", None)
    for body, field in (
        ({"kind": "cloud"}, "body.pop_id"),
        ({"kind": "cloud", "pop_id": "00000000-0000-0000-0000-000000000000"}, "body.pop_id"),
        ({"pop_id": pop["id"]}, "body.pop_id"),  # on-premise sites run their own chains
    ):
        full = {"name": "other", "lan_prefix": "192.168.30.0/24", **body}
        assert _problem(client.post("/api/v1/sites", headers=tenant_headers, json=full)) == [field]
    assert len(ok(client.get("/api/v1/sites", headers=tenant_headers))) == 2
