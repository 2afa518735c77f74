"""Bad input answers 422 naming the field, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import FIREWALL, create_device, create_nsd, create_site, create_tenant, ok


@pytest.fixture
def acme(client: TestClient, operator: dict[str, str]) -> dict[str, Any]:
    tenant = create_tenant(client, operator, "acme")
    site = create_site(client, operator, tenant["id"], "acme-hq")
    return {"tenant": tenant, "site": site}


def _problem(resp: Any, status: int = 422) -> list[str]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return [p["name"] for p in body.get("invalid_params", [])]


def _nsd(client: TestClient, operator: dict[str, str], chain: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/ns_descriptors", headers=operator, json={"name": "bad", "chain": chain}
    )


@pytest.mark.parametrize(
    ("chain", "field"),
    [
        ([{"name": "x", "function": "teleporter"}], "body.chain[0].function"),
        (
            [{"name": "fw", "function": "firewall", "params": {"rules": [{"action": "maybe"}]}}],
            "body.chain[0].params.rules[0].action",
        ),
        (
            [
                {
                    "name": "fw",
                    "function": "firewall",
                    "params": {
                        "rules": [{"action": "deny", "protocol": "tcp", "dst_ports": [70000]}]
                    },
                }
            ],
            "body.chain[0].params.rules[0].dst_ports",
        ),
        (
            [
                {
                    "name": "fw",
                    "function": "firewall",
                    "params": {"rules": [{"action": "deny", "dst_ports": [80]}]},
                }
            ],
            "body.chain[0].params.rules[0]",
        ),
        (
            [
                {
                    "name": "fw",
                    "function": "firewall",
                    "params": {"rules": [{"action": "deny", "src": "10.0.0.1/8"}]},
                }
            ],
            "body.chain[0].params.rules[0].src",
        ),
        (
            [
                {
                    "name": "fw",
                    "function": "firewall",
                    "params": {"rules": [{"action": "deny", "src": "300.1.2.0/24"}]},
                }
            ],
            "body.chain[0].params.rules[0].src",
        ),
        (
            [{"name": "fw", "function": "firewall", "params": {"rulez": []}}],
            "body.chain[0].params.rulez",
        ),
        (
            [
                {
                    "name": "r",
                    "function": "router",
                    "params": {"routes": [{"prefix": "10.0.0.0/8", "via": "not-an-ip"}]},
                }
            ],
            "body.chain[0].params.routes[0].via",
        ),
        (
            [{"name": "a", "function": "nat"}, {"name": "a", "function": "firewall"}],
            "body.chain[1].name",
        ),
        ([], "body.chain"),
    ],
)
def test_invalid_descriptor_is_refused_and_not_stored(
    client: TestClient, operator: dict[str, str], chain: list[dict[str, Any]], field: str
) -> None:
    assert field in _problem(_nsd(client, operator, chain))
    assert ok(client.get("/api/v1/ns_descriptors", headers=operator)) == []


def test_overlapping_and_invalid_site_prefixes(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    tid = acme["tenant"]["id"]
    for prefix in (
        "192.168.10.128/25",
        "192.168.0.0/16",
        "192.168.300.0/24",
        "10.0.0.0/30",
        "10.1.2.3/24",
    ):
        resp = client.post(
            "/api/v1/sites",
            headers=operator,
            json={"name": "branch", "tenant_id": tid, "lan_prefix": prefix},
        )
        assert _problem(resp) == ["body.lan_prefix"], prefix
    assert [s["name"] for s in ok(client.get("/api/v1/sites", headers=operator))] == ["acme-hq"]


def test_invalid_device_addressing(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    site_id = acme["site"]["id"]
    base = {"name": "cpe", "serial": "S1", "site_id": site_id}
    cases = [
        ({"wan_address": "203.0.113.2/24", "wan_gateway": "198.51.100.1"}, "body.wan_gateway"),
        ({"wan_address": "192.168.10.2/24", "wan_gateway": "192.168.10.3"}, "body.wan_address"),
        (
            {
                "wan_address": "203.0.113.2/24",
                "wan_gateway": "203.0.113.1",
                "lan_port": "a-very-long-interface-name",
            },
            "body.lan_port",
        ),
        (
            {"wan_address": "203.0.113.2/24", "wan_gateway": "203.0.113.1", "site_id": "nope"},
            "body.site_id",
        ),
    ]
    for extra, field in cases:
        assert _problem(
            client.post("/api/v1/devices", headers=operator, json={**base, **extra})
        ) == [field]
    assert ok(client.get("/api/v1/devices", headers=operator)) == []


def test_chain_too_long_for_the_device(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    create_device(client, operator, acme["site"]["id"], "small-cpe", max_functions=2)
    nsd = create_nsd(
        client,
        operator,
        chain=[
            {"name": "fw", "function": "firewall", "params": FIREWALL},
            {"name": "nat", "function": "nat"},
            {"name": "r", "function": "router"},
        ],
    )
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={"name": "svc", "site_id": acme["site"]["id"], "nsd_id": nsd["id"]},
    )
    names = _problem(resp)
    assert names == ["body.nsd_id"]
    assert "too long" in resp.json()["detail"]
    assert ok(client.get("/api/v1/ns_instances", headers=operator)) == []


def test_bad_overrides_when_ordering(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    create_device(client, operator, acme["site"]["id"], "cpe")
    nsd = create_nsd(client, operator)
    body = {"name": "svc", "site_id": acme["site"]["id"], "nsd_id": nsd["id"]}
    resp = client.post(
        "/api/v1/ns_instances", headers=operator, json={**body, "vnf_params": {"ghost": {}}}
    )
    assert _problem(resp) == ["body.vnf_params.ghost"]
    resp = client.post(
        "/api/v1/ns_instances",
        headers=operator,
        json={**body, "vnf_params": {"fw": {"rules": [{"action": "allow", "dst": "1.2.3.4/33"}]}}},
    )
    assert _problem(resp) == ["body.vnf_params.fw.rules[0].dst"]
    assert ok(client.get("/api/v1/ns_instances", headers=operator)) == []


def test_state_rules_answer_409(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any]
) -> None:
    create_device(client, operator, acme["site"]["id"], "cpe")
    nsd = create_nsd(client, operator)
    ns = ok(
        client.post(
            "/api/v1/ns_instances",
            headers=operator,
            json={"name": "svc", "site_id": acme["site"]["id"], "nsd_id": nsd["id"]},
        ),
        201,
    )
    assert (
        _problem(client.post(f"/api/v1/ns_instances/{ns['id']}/terminate", headers=operator), 409)
        == []
    )
    assert (
        _problem(
            client.post(
                f"/api/v1/ns_instances/{ns['id']}/update",
                headers=operator,
                json={"vnf_params": {"fw": {}}},
            ),
            409,
        )
        == []
    )
    assert (
        _problem(client.delete(f"/api/v1/ns_descriptors/{nsd['id']}", headers=operator), 409) == []
    )
