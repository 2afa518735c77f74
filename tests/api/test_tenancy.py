"""A tenant's token sees its own objects only; another tenant's id answers 404."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.store.db import SessionFactory
from tests.conftest import bearer, make_token
from tests.support import create_device, create_nsd, create_site, create_tenant, ok


@pytest.fixture
def two_tenants(
    client: TestClient, factory: SessionFactory, operator: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, lan in (("acme", "192.168.10.0/24"), ("globex", "192.168.20.0/24")):
        tenant = create_tenant(client, operator, name)
        site = create_site(client, operator, tenant["id"], f"{name}-hq", lan)
        device = create_device(client, operator, site["id"], f"{name}-cpe")
        headers = bearer(make_token(factory, f"{name}-admin", tenant["id"]))
        nsd = create_nsd(client, headers, name=f"{name}-private")
        ns = ok(
            client.post(
                "/api/v1/ns_instances",
                headers=headers,
                json={"name": "svc", "site_id": site["id"], "nsd_id": nsd["id"]},
            ),
            201,
        )
        out[name] = {
            "tenant": tenant,
            "site": site,
            "device": device,
            "headers": headers,
            "nsd": nsd,
            "ns": ns,
        }
    return out


def test_every_endpoint_needs_a_token(client: TestClient) -> None:
    for path in (
        "/api/v1/tenants",
        "/api/v1/sites",
        "/api/v1/ns_instances",
        "/api/v1/functions",
        "/api/v1/ns_lcm_op_occs",
    ):
        resp = client.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/sites", headers=bearer("ccpe_not-a-token")).status_code == 401


def test_lists_hold_only_the_tenants_objects(
    client: TestClient, two_tenants: dict[str, Any]
) -> None:
    acme = two_tenants["acme"]
    for path, key in (
        ("/api/v1/tenants", "tenant"),
        ("/api/v1/sites", "site"),
        ("/api/v1/devices", "device"),
        ("/api/v1/ns_instances", "ns"),
    ):
        ids = [o["id"] for o in ok(client.get(path, headers=acme["headers"]))]
        assert ids == [acme[key]["id"]], path
    nsds = [o["name"] for o in ok(client.get("/api/v1/ns_descriptors", headers=acme["headers"]))]
    assert nsds == ["acme-private"]


def test_operator_sees_everything(
    client: TestClient, operator: dict[str, str], two_tenants: dict[str, Any]
) -> None:
    assert len(ok(client.get("/api/v1/sites", headers=operator))) == 2
    assert len(ok(client.get("/api/v1/ns_instances", headers=operator))) == 2


def test_another_tenants_ids_answer_404_like_missing_ones(
    client: TestClient, two_tenants: dict[str, Any]
) -> None:
    acme, globex = two_tenants["acme"], two_tenants["globex"]
    paths = [
        f"/api/v1/tenants/{globex['tenant']['id']}",
        f"/api/v1/sites/{globex['site']['id']}",
        f"/api/v1/devices/{globex['device']['id']}",
        f"/api/v1/ns_descriptors/{globex['nsd']['id']}",
        f"/api/v1/ns_instances/{globex['ns']['id']}",
    ]
    for path in paths:
        theirs = client.get(path, headers=acme["headers"])
        missing = client.get(
            path.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000",
            headers=acme["headers"],
        )
        assert theirs.status_code == missing.status_code == 404, path
        assert ok(client.get(path, headers=globex["headers"]))["id"] == path.rsplit("/", 1)[1]


def test_a_tenant_cannot_change_another_tenants_objects(
    client: TestClient, operator: dict[str, str], two_tenants: dict[str, Any]
) -> None:
    acme, globex = two_tenants["acme"], two_tenants["globex"]
    ns_id = globex["ns"]["id"]
    for method, path in (
        ("post", f"/api/v1/ns_instances/{ns_id}/instantiate"),
        ("post", f"/api/v1/ns_instances/{ns_id}/terminate"),
        ("delete", f"/api/v1/ns_instances/{ns_id}"),
        ("delete", f"/api/v1/ns_descriptors/{globex['nsd']['id']}"),
    ):
        assert getattr(client, method)(path, headers=acme["headers"]).status_code == 404, path
    resp = client.post(
        f"/api/v1/ns_instances/{ns_id}/update",
        headers=acme["headers"],
        json={"vnf_params": {"fw": {"rules": []}}},
    )
    assert resp.status_code == 404
    # ordering a service on another tenant's site is refused and stores nothing
    resp = client.post(
        "/api/v1/ns_instances",
        headers=acme["headers"],
        json={"name": "sneaky", "site_id": globex["site"]["id"], "nsd_id": acme["nsd"]["id"]},
    )
    assert resp.status_code == 422
    assert resp.json()["invalid_params"][0]["name"] == "body.site_id"
    assert len(ok(client.get("/api/v1/ns_instances", headers=operator))) == 2
    assert (
        ok(client.get(f"/api/v1/ns_instances/{ns_id}", headers=globex["headers"]))["ns_state"]
        == "NOT_INSTANTIATED"
    )


def test_tenant_tokens_cannot_do_operator_work(
    client: TestClient, two_tenants: dict[str, Any]
) -> None:
    acme = two_tenants["acme"]
    assert (
        client.post("/api/v1/tenants", json={"name": "evil"}, headers=acme["headers"]).status_code
        == 403
    )
    resp = client.post(
        "/api/v1/devices",
        headers=acme["headers"],
        json={
            "name": "x",
            "serial": "x",
            "site_id": acme["site"]["id"],
            "wan_address": "203.0.113.9/24",
            "wan_gateway": "203.0.113.1",
        },
    )
    assert resp.status_code == 403
