"""Every role against every endpoint group: allowed, 403 (role), 404 (another tenant).

Each role gets its own world (two tenants, acme and globex, with sites, devices,
descriptors, services, users); the calling user of a tenant role belongs to acme. The app
runs without an LCM worker: operations stay PROCESSING, nothing touches the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
            "ns": ns,
            "op": op,
            "user": uid,
        }
    tenant = None if role.startswith("operator") else w["acme"]["tenant"]["id"]
    _, token = make_user(factory, f"me-{role.replace('_', '-')}", role, tenant)
    w["me"] = bearer(token)
    tokens = ok(api.get("/api/v1/tokens", headers=root))
    w["root_token_id"] = tokens[0]["id"]
    return w


Case = tuple[str, str, Callable[[W], str], Callable[[W], Any] | None, tuple[int, int, int, int]]

CHAIN = [{"name": "fw", "function": "firewall", "params": {"rules": []}}]

CASES: list[Case] = [
    # inventory
    ("list tenants", "GET", lambda w: "/tenants", None, (200, 200, 200, 200)),
    (
        "create tenant",
        "POST",
        lambda w: "/tenants",
        lambda w: {"name": "new"},
        (201, 403, 403, 403),
    ),
    (
        "other tenant",
        "GET",
        lambda w: f"/tenants/{w['globex']['tenant']['id']}",
        None,
        (200, 200, 404, 404),
    ),
    ("list sites", "GET", lambda w: "/sites", None, (200, 200, 200, 200)),
    (
        "create site",
        "POST",
        lambda w: "/sites",
        lambda w: {
            "name": "new",
            "tenant_id": w["acme"]["tenant"]["id"],
            "lan_prefix": "10.9.0.0/24",
        },
        (201, 403, 201, 403),
    ),
    (
        "other site",
        "GET",
        lambda w: f"/sites/{w['globex']['site']['id']}",
        None,
        (200, 200, 404, 404),
    ),
    ("list devices", "GET", lambda w: "/devices", None, (200, 200, 200, 200)),
    (
        "register device",
        "POST",
        lambda w: "/devices",
        lambda w: {
            "name": "new-cpe",
            "serial": "SN-new",
            "site_id": w["acme"]["branch"]["id"],
            "wan_address": "198.51.100.2/24",
            "wan_gateway": "198.51.100.1",
        },
        (201, 403, 403, 403),
    ),
    (
        "other device",
        "GET",
        lambda w: f"/devices/{w['globex']['device']['id']}",
        None,
        (200, 200, 404, 404),
    ),
    (
        "other device state",
        "GET",
        lambda w: f"/devices/{w['globex']['device']['id']}/state",
        None,
        (200, 200, 404, 404),
    ),
    # catalog and designer
    ("functions", "GET", lambda w: "/functions", None, (200, 200, 200, 200)),
    ("list nsds", "GET", lambda w: "/ns_descriptors", None, (200, 200, 200, 200)),
    (
        "create nsd",
        "POST",
        lambda w: "/ns_descriptors",
        lambda w: {"name": "new-nsd", "chain": CHAIN},
        (201, 403, 201, 403),
    ),
    (
        "other nsd",
        "GET",
        lambda w: f"/ns_descriptors/{w['globex']['nsd']['id']}",
        None,
        (200, 200, 200, 200),
    ),  # published for every tenant
    (
        "delete published nsd",
        "DELETE",
        lambda w: f"/ns_descriptors/{w['globex']['unused']['id']}",
        None,
        (204, 403, 403, 403),
    ),
    ("list designs", "GET", lambda w: "/ns_designs", None, (200, 200, 200, 200)),
    (
        "save design",
        "POST",
        lambda w: "/ns_designs",
        lambda w: {"name": "d1", "chain": CHAIN},
        (201, 403, 201, 403),
    ),
    # services and operations
    ("list services", "GET", lambda w: "/ns_instances", None, (200, 200, 200, 200)),
    (
        "order service",
        "POST",
        lambda w: "/ns_instances",
        lambda w: {
            "name": "new",
            "site_id": w["acme"]["site"]["id"],
            "nsd_id": w["acme"]["nsd"]["id"],
        },
        (201, 403, 201, 201),
    ),
    (
        "order at other site",
        "POST",
        lambda w: "/ns_instances",
        lambda w: {
            "name": "new2",
            "site_id": w["globex"]["site"]["id"],
            "nsd_id": w["globex"]["nsd"]["id"],
        },
        (201, 403, 422, 422),
    ),
    (
        "other service",
        "GET",
        lambda w: f"/ns_instances/{w['globex']['ns'][0]['id']}",
        None,
        (200, 200, 404, 404),
    ),
    (
        "instantiate other",
        "POST",
        lambda w: f"/ns_instances/{w['globex']['ns'][1]['id']}/instantiate",
        None,
        (202, 403, 404, 404),
    ),
    (
        "update own, not instantiated",
        "POST",
        lambda w: f"/ns_instances/{w['acme']['ns'][1]['id']}/update",
        lambda w: {"vnf_params": {"fw": {"rules": []}}},
        (409, 403, 409, 409),
    ),
    ("list operations", "GET", lambda w: "/ns_lcm_op_occs", None, (200, 200, 200, 200)),
    (
        "other operation",
        "GET",
        lambda w: f"/ns_lcm_op_occs/{w['globex']['op']['id']}",
        None,
        (200, 200, 404, 404),
    ),
    (
        "retry other operation",
        "POST",
        lambda w: f"/ns_lcm_op_occs/{w['globex']['op']['id']}/retry",
        None,
        (409, 403, 404, 404),
    ),
    (
        "retry own operation",
        "POST",
        lambda w: f"/ns_lcm_op_occs/{w['acme']['op']['id']}/retry",
        None,
        (409, 403, 409, 409),
    ),
    # users, tokens, audit
    ("list users", "GET", lambda w: "/users", None, (200, 200, 200, 403)),
    (
        "create tenant user",
        "POST",
        lambda w: "/users",
        lambda w: {
            "name": "new-user",
            "password": PASSWORD,
            "role": "tenant_user",
            "tenant_id": w["acme"]["tenant"]["id"],
        },
        (201, 403, 201, 403),
    ),
    (
        "create operator user",
        "POST",
        lambda w: "/users",
        lambda w: {"name": "new-op", "password": PASSWORD, "role": "operator"},
        (201, 403, 403, 403),
    ),
    (
        "other tenant's user",
        "GET",
        lambda w: f"/users/{w['globex']['user']}",
        None,
        (200, 200, 404, 404),
    ),
    (
        "disable other tenant's user",
        "PATCH",
        lambda w: f"/users/{w['globex']['user']}",
        lambda w: {"disabled": True},
        (200, 403, 404, 404),
    ),
    ("own tokens", "GET", lambda w: "/tokens", None, (200, 200, 200, 200)),
    (
        "create own token",
        "POST",
        lambda w: "/tokens",
        lambda w: {"name": "mine"},
        (201, 201, 201, 201),
    ),
    (
        "revoke someone else's token",
        "DELETE",
        lambda w: f"/tokens/{w['root_token_id']}",
        None,
        (200, 404, 404, 404),
    ),
    ("audit log", "GET", lambda w: "/audit", None, (200, 403, 200, 403)),
]


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_group_for_a_role(
    api: TestClient, factory: SessionFactory, role: str
) -> None:
    w = build_world(api, factory, role)
    column = ROLES.index(role)
    wrong = []
    for title, method, path, body, expected in CASES:
        kw = {"json": body(w)} if body else {}
        resp = api.request(method, "/api/v1" + path(w), headers=w["me"], **kw)
        if resp.status_code != expected[column]:
            wrong.append(f"{title}: {resp.status_code} (wanted {expected[column]}) {resp.text}")
        elif resp.status_code >= 400:
            assert resp.headers["content-type"] == "application/problem+json", title
    assert not wrong, "\n".join(wrong)
