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


def create_agent_device(
    client: TestClient, operator: dict[str, str], site_id: str, name: str, **extra: Any
) -> dict[str, Any]:
    """An agent-managed device; the answer carries its one-time `activation_code`."""
    return create_device(client, operator, site_id, name, management="agent", **extra)


def activate(client: TestClient, serial: str, code: str) -> Any:
    return client.post("/agent/v1/activate", json={"serial": serial, "activation_code": code})
