"""Every role against every endpoint group: allowed, 403 (role), 404 (another tenant).

Each role gets its own world (two tenants, acme and globex, with sites, devices,
descriptors, services, users); the calling user of a tenant role belongs to acme. The app
runs without an LCM worker: operations stay PROCESSING, nothing touches the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.store.db import SessionFactory
from tests.conftest import bearer
from tests.support import create_device, create_nsd, create_site, create_tenant, ok
from tests.support_users import PASSWORD, make_user

ROLES = ("operator_admin", "operator", "tenant_admin", "tenant_user")
W = dict[str, Any]


@pytest.fixture
def api(factory: SessionFactory) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    with TestClient(create_app(factory, None, run_worker=False)) as c:
        yield c


def build_world(api: TestClient, factory: SessionFactory, role: str) -> W:
    _, root_token = make_user(factory, "root", "operator_admin")
    root = bearer(root_token)
    w: W = {"root": root}
    for name, lan, branch_lan in (
        ("acme", "192.168.10.0/24", "10.1.0.0/24"),
        ("globex", "192.168.20.0/24", "10.2.0.0/24"),
    ):
        t = create_tenant(api, root, name)
        site = create_site(api, root, t["id"], f"{name}-hq", lan)
        branch = create_site(api, root, t["id"], f"{name}-branch", branch_lan)  # no device
        dev = create_device(api, root, site["id"], f"{name}-cpe", serial=f"SN-{name}")
        nsd = create_nsd(api, root, name=f"{name}-svc")
        unused = create_nsd(api, root, name=f"{name}-unused")
        ns = [
            ok(
                api.post(
                    "/api/v1/ns_instances",
                    headers=root,
                    json={"name": f"svc{i}", "site_id": site["id"], "nsd_id": nsd["id"]},
                ),
                201,
            )
            for i in range(2)
        ]
        op = ok(api.post(f"/api/v1/ns_instances/{ns[0]['id']}/instantiate", headers=root), 202)
        uid, _ = make_user(factory, f"{name}-someone", "tenant_user", t["id"])
        w[name] = {
            "tenant": t,
            "site": site,
            "branch": branch,
            "device": dev,
            "nsd": nsd,
            "unused": unused,
            "ns0": ns[0],
            "ns1": ns[1],
            "op": op,
            "user": uid,
        }
    tenant = None if role.startswith("operator") else w["acme"]["tenant"]["id"]
    _, token = make_user(factory, f"me-{role.replace('_', '-')}", role, tenant)
    w["me"] = bearer(token)
    tokens = ok(api.get("/api/v1/tokens", headers=root))
    w["root_token_id"] = tokens[0]["id"]
    return w


CHAIN = [{"name": "fw", "function": "firewall", "params": {"rules": []}}]

# request bodies; "{acme.tenant.id}"-style placeholders are filled from the world
BODIES: dict[str, dict[str, Any]] = {
    "tenant": {"name": "new"},
    "site": {"name": "new", "tenant_id": "{acme.tenant.id}", "lan_prefix": "10.9.0.0/24"},
    "device": {"name": "new-cpe", "serial": "SN-new", "site_id": "{acme.branch.id}",
               "wan_address": "198.51.100.2/24", "wan_gateway": "198.51.100.1"},
    "nsd": {"name": "new-nsd", "chain": CHAIN},
    "design": {"name": "d1", "chain": CHAIN},
    "order": {"name": "new", "site_id": "{acme.site.id}", "nsd_id": "{acme.nsd.id}"},
    "order-other": {"name": "new2", "site_id": "{globex.site.id}", "nsd_id": "{globex.nsd.id}"},
    "update": {"vnf_params": {"fw": {"rules": []}}},
    "tenant-user": {"name": "new-user", "password": PASSWORD, "role": "tenant_user",
                    "tenant_id": "{acme.tenant.id}"},
    "operator-user": {"name": "new-op", "password": PASSWORD, "role": "operator"},
    "disable": {"disabled": True},
    "token": {"name": "mine"},
}  # fmt: skip

# method, path, body, expected status for: operator_admin, operator, tenant_admin, tenant_user
# (a tenant role's user belongs to acme; globex is "another tenant")
# fmt: off
CASES: list[tuple[str, str, str | None, str]] = [
    # inventory
    ("GET",    "/tenants",                               None,            "200 200 200 200"),
    ("POST",   "/tenants",                               "tenant",        "201 403 403 403"),
    ("GET",    "/tenants/{globex.tenant.id}",            None,            "200 200 404 404"),
    ("GET",    "/sites",                                 None,            "200 200 200 200"),
    ("POST",   "/sites",                                 "site",          "201 403 201 403"),
    ("GET",    "/sites/{globex.site.id}",                None,            "200 200 404 404"),
    ("GET",    "/devices",                               None,            "200 200 200 200"),
    ("POST",   "/devices",                               "device",        "201 403 403 403"),
    ("GET",    "/devices/{globex.device.id}",            None,            "200 200 404 404"),
    ("GET",    "/devices/{globex.device.id}/state",      None,            "200 200 404 404"),
    # catalog and designer (globex's descriptors are published for every tenant)
    ("GET",    "/functions",                             None,            "200 200 200 200"),
    ("GET",    "/ns_descriptors",                        None,            "200 200 200 200"),
    ("POST",   "/ns_descriptors",                        "nsd",           "201 403 201 403"),
    ("GET",    "/ns_descriptors/{globex.nsd.id}",        None,            "200 200 200 200"),
    ("DELETE", "/ns_descriptors/{globex.unused.id}",     None,            "204 403 403 403"),
    ("GET",    "/ns_designs",                            None,            "200 200 200 200"),
    ("POST",   "/ns_designs",                            "design",        "201 403 201 403"),
    # services and operations
    ("GET",    "/ns_instances",                          None,            "200 200 200 200"),
    ("POST",   "/ns_instances",                          "order",         "201 403 201 201"),
    ("POST",   "/ns_instances",                          "order-other",   "201 403 422 422"),
    ("GET",    "/ns_instances/{globex.ns0.id}",          None,            "200 200 404 404"),
    ("POST",   "/ns_instances/{globex.ns1.id}/instantiate", None,         "202 403 404 404"),
    ("POST",   "/ns_instances/{acme.ns1.id}/update",     "update",        "409 403 409 409"),
    ("GET",    "/ns_lcm_op_occs",                        None,            "200 200 200 200"),
    ("GET",    "/ns_lcm_op_occs/{globex.op.id}",         None,            "200 200 404 404"),
    ("POST",   "/ns_lcm_op_occs/{globex.op.id}/retry",   None,            "409 403 404 404"),
    ("POST",   "/ns_lcm_op_occs/{acme.op.id}/retry",     None,            "409 403 409 409"),
    # users, tokens, audit
    ("GET",    "/users",                                 None,            "200 200 200 403"),
    ("POST",   "/users",                                 "tenant-user",   "201 403 201 403"),
    ("POST",   "/users",                                 "operator-user", "201 403 403 403"),
    ("GET",    "/users/{globex.user}",                   None,            "200 200 404 404"),
    ("PATCH",  "/users/{globex.user}",                   "disable",       "200 403 404 404"),
    ("GET",    "/tokens",                                None,            "200 200 200 200"),
    ("POST",   "/tokens",                                "token",         "201 201 201 201"),
    ("DELETE", "/tokens/{root_token_id}",                None,            "200 404 404 404"),
    ("GET",    "/audit",                                 None,            "200 403 200 403"),
]
# fmt: on


def fill(value: Any, w: W) -> Any:
    """Replace "{a.b.c}" placeholders (in strings, lists, dicts) with the world's values."""
    if isinstance(value, dict):
        return {k: fill(v, w) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, w) for v in value]
    if isinstance(value, str):
        return re.sub(r"\{([\w.]+)\}", lambda m: str(_walk(w, m.group(1))), value)
    return value


def _walk(w: W, dotted: str) -> Any:
    node: Any = w
    for part in dotted.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_group_for_a_role(
    api: TestClient, factory: SessionFactory, role: str
) -> None:
    w = build_world(api, factory, role)
    column = ROLES.index(role)
    wrong = []
    for method, path, body, expected in CASES:
        want = int(expected.split()[column])
        kw = {"json": fill(BODIES[body], w)} if body else {}
        resp = api.request(method, "/api/v1" + fill(path, w), headers=w["me"], **kw)
        title = f"{method} {path} ({body or 'no body'})"
        if resp.status_code != want:
            wrong.append(f"{title}: {resp.status_code} (wanted {want}) {resp.text}")
        elif resp.status_code >= 400:
            assert resp.headers["content-type"] == "application/problem+json", title
    assert not wrong, "\n".join(wrong)
