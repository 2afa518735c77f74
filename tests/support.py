"""Helpers for tests that drive the product API."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

LAN = "192.168.10.0/24"


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    return resp.json() if resp.content else None


def create_tenant(client: TestClient, operator: dict[str, str], name: str) -> dict[str, Any]:
    return ok(client.post("/api/v1/tenants", json={"name": name}, headers=operator), 201)  # type: ignore[no-any-return]


def create_site(
    client: TestClient,
    headers: dict[str, str],
    tenant_id: str | None,
    name: str,
    lan_prefix: str = LAN,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "lan_prefix": lan_prefix}
    if tenant_id:
        body["tenant_id"] = tenant_id
    return ok(client.post("/api/v1/sites", json=body, headers=headers), 201)  # type: ignore[no-any-return]


def create_device(
    client: TestClient,
    operator: dict[str, str],
    site_id: str,
    name: str,
    netns: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": name,
        "serial": f"SN-{name}",
        "site_id": site_id,
        "wan_address": "203.0.113.2/24",
        "wan_gateway": "203.0.113.1",
        "netns": netns,
        **extra,
    }
    return ok(client.post("/api/v1/devices", json=body, headers=operator), 201)  # type: ignore[no-any-return]


FIREWALL = {
    "rules": [
        {"action": "deny", "protocol": "tcp", "dst_ports": [8080]},
        {"action": "allow", "src": LAN},
    ]
}


def create_nsd(
    client: TestClient,
    headers: dict[str, str],
    name: str = "secure-internet",
    chain: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    chain = chain or [
        {"name": "fw", "function": "firewall", "params": FIREWALL},
        {"name": "nat", "function": "nat"},
    ]
    return ok(
        client.post(
            "/api/v1/ns_descriptors",
            json={"name": name, "chain": chain},  # type: ignore[no-any-return]
            headers=headers,
        ),
        201,
    )


def wait_operation(
    client: TestClient, headers: dict[str, str], op_id: str, timeout: float = 20.0
) -> dict[str, Any]:
    """Poll an operation until it leaves PROCESSING / ROLLING_BACK."""
    deadline = time.monotonic() + timeout
    while True:
        op: dict[str, Any] = ok(client.get(f"/api/v1/ns_lcm_op_occs/{op_id}", headers=headers))
        if op["operation_state"] not in ("PROCESSING", "ROLLING_BACK"):
            return op
        assert time.monotonic() < deadline, f"operation still {op['operation_state']}: {op}"
        time.sleep(0.02)


# ---------------------------------------------------------------- POPs and cloud sites

POOL = "198.51.100.128/26"


def create_pop(
    client: TestClient, operator: dict[str, str], name: str = "pop1", pool: str = POOL
) -> dict[str, Any]:
    body = {"name": name, "public_pool": pool}
    return ok(client.post("/api/v1/pops", json=body, headers=operator), 201)  # type: ignore[no-any-return]


def create_compute_node(
    client: TestClient,
    operator: dict[str, str],
    pop_id: str,
    name: str,
    address: str = "198.51.100.11/24",
    netns: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": name,
        "serial": f"SN-{name}",
        "uplink_address": address,
        "uplink_gateway": "198.51.100.1",
        "netns": netns,
        **extra,
    }
    return ok(  # type: ignore[no-any-return]
        client.post(f"/api/v1/pops/{pop_id}/compute_nodes", json=body, headers=operator), 201
    )


def create_cloud_site(
    client: TestClient,
    headers: dict[str, str],
    tenant_id: str | None,
    name: str,
    pop_id: str,
    lan_prefix: str = LAN,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "lan_prefix": lan_prefix, "kind": "cloud"}
    body["pop_id"] = pop_id
    if tenant_id:
        body["tenant_id"] = tenant_id
    return ok(client.post("/api/v1/sites", json=body, headers=headers), 201)  # type: ignore[no-any-return]


def order_service(
    client: TestClient, headers: dict[str, str], site_id: str, nsd_id: str, name: str = "svc"
) -> dict[str, Any]:
    """Create an NS instance and instantiate it; the operation once it has finished."""
    ns = ok(
        client.post(
            "/api/v1/ns_instances",
            headers=headers,
            json={"name": name, "site_id": site_id, "nsd_id": nsd_id},
        ),
        201,
    )
    op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=headers), 202)
    done = wait_operation(client, headers, op["id"])
    return {"ns": ns, "op": done}


def create_agent_device(
    client: TestClient, operator: dict[str, str], site_id: str, name: str, **extra: Any
) -> dict[str, Any]:
    """An agent-managed device; the answer carries its one-time `activation_code`."""
    return create_device(client, operator, site_id, name, management="agent", **extra)


def activate(client: TestClient, serial: str, code: str) -> Any:
    return client.post("/agent/v1/activate", json={"serial": serial, "activation_code": code})
