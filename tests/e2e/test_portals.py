"""The portals in a real browser: log in as each role, an operator registers a device and
creates a descriptor, tenancy holds for URLs typed by hand, the designer builds, validates
(with an error shown) and publishes a chain. No kernel objects: nothing is instantiated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN, ADMIN_PASSWORD, call, login, shot

PW = "e2e-user-password"


@pytest.fixture(scope="module")
def others(served: dict[str, Any]) -> dict[str, Any]:
    """Made through the API: a tenant 'globex' with a site, a device and a service (never
    instantiated), and one user of every role."""
    api = served["api"]
    t = call(api, "POST", "/tenants", 201, json={"name": "globex"})
    site = call(
        api,
        "POST",
        "/sites",
        201,
        json={"name": "globex-hq", "tenant_id": t["id"], "lan_prefix": "10.20.0.0/24"},
    )
    call(
        api,
        "POST",
        "/devices",
        201,
        json={
            "name": "globex-cpe",
            "serial": "SN-GLOBEX",
            "site_id": site["id"],
            "wan_address": "198.51.100.2/24",
            "wan_gateway": "198.51.100.1",
        },
    )
    nsd = call(
        api,
        "POST",
        "/ns_descriptors",
        201,
        json={
            "name": "globex-only",
            "tenant_id": t["id"],
            "chain": [{"name": "fw", "function": "firewall"}],
        },
    )
    ns = call(
        api,
        "POST",
        "/ns_instances",
        201,
        json={"name": "globex-net", "site_id": site["id"], "nsd_id": nsd["id"]},
    )
    for name, role, tenant in (
        ("viewer", "operator", None),
        ("globex-admin", "tenant_admin", t["id"]),
        ("globex-user", "tenant_user", t["id"]),
    ):
        call(
            api,
            "POST",
            "/users",
            201,
            json={"name": name, "password": PW, "role": role, "tenant_id": tenant},
        )
    return {"tenant": t, "site": site, "ns": ns}  # fmt: skip


@pytest.mark.parametrize(
    ("user", "password", "home", "heading", "nav"),
    [
        (ADMIN, ADMIN_PASSWORD, "/admin", "Administration Portal", "Audit log"),
        ("viewer", PW, "/admin", "Administration Portal", "Designer"),
        ("globex-admin", PW, "/portal", "globex: sites and services", "Audit log"),
        ("globex-user", PW, "/portal", "globex: sites and services", "Order a service"),
    ],
)
def test_log_in_as_each_role(
    new_page: Any, others: dict[str, Any], user: str, password: str, home: str, heading: str,
    nav: str,
) -> None:  # fmt: skip
    page = new_page()
    login(page, user, password)
    assert page.url.endswith(home)
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name=nav).is_visible()
    shot(page, f"home-{user}")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")


def test_operator_registers_device_and_creates_descriptor(
    new_page: Any, served: dict[str, Any]
) -> None:
    page = new_page()
    login(page, ADMIN, ADMIN_PASSWORD)
    page.goto("/admin/tenants")
    page.get_by_label("Name").fill("acme")
    page.get_by_role("button", name="Create tenant").click()
    page.wait_for_url("**/admin/tenants/*")
    page.goto("/admin/sites")
    page.get_by_label("Tenant").select_option(label="acme")
    page.get_by_label("Name").fill("acme-hq")
    page.get_by_label("LAN prefix").fill("192.168.10.0/24")
    page.get_by_role("button", name="Create site").click()
    page.wait_for_url("**/admin/sites")
    shot(page, "admin-sites")

    page.goto("/admin/devices")
    page.get_by_label("Name", exact=True).fill("acme-cpe")
    page.get_by_label("Serial number").fill("CPE-0001")
    page.get_by_label("Site").select_option(label="acme / acme-hq")
    page.get_by_label("WAN address").fill("203.0.113.2/24")
    page.get_by_label("WAN gateway").fill("10.0.0.1")  # not in the WAN subnet
    page.get_by_role("button", name="Register device").click()
    error = page.locator("#err-wan_gateway")
    assert "not in the WAN subnet" in error.inner_text()
    assert page.get_by_label("WAN gateway").get_attribute("aria-invalid") == "true"
    shot(page, "admin-device-error")
    page.get_by_label("WAN gateway").fill("203.0.113.1")
    page.get_by_role("button", name="Register device").click()
    page.wait_for_url("**/admin/devices")
    row = page.get_by_role("row").filter(has_text="CPE-0001")
    assert "acme / acme-hq" in row.inner_text()
    shot(page, "admin-devices")

    page.goto("/admin/catalog")
    page.get_by_label("Name").fill("secure-internet")
    chain = [
        {"name": "fw", "function": "firewall",
         "params": {"rules": [{"action": "allow", "src": "192.168.10.0/24"}]}},
        {"name": "nat", "function": "nat"},
    ]  # fmt: skip
    page.get_by_label("Chain (JSON list, LAN to WAN)").fill(json.dumps(chain))
    page.get_by_role("button", name="Create descriptor").click()
    page.wait_for_url("**/admin/catalog")
    assert page.get_by_role("row").filter(has_text="secure-internet").is_visible()
    shot(page, "admin-catalog")
    names = [d["name"] for d in call(served["api"], "GET", "/ns_descriptors")]
    assert "secure-internet" in names

    for path, name in (
        ("/admin", "admin-overview"),
        ("/admin/tenants", "admin-tenants"),
        ("/admin/services", "admin-services"),
        ("/operations", "operations"),
        ("/users", "admin-users"),
        ("/audit", "audit"),
        ("/account", "account"),
    ):
        page.goto(path)
        shot(page, name)  # fmt: skip
    page.goto("/audit")
    audit = page.locator("table.audit").inner_text()
    assert "POST /admin/devices" in audit and "admin" in audit


def test_tenant_user_cannot_reach_another_tenants_pages(
    new_page: Any, served: dict[str, Any], others: dict[str, Any]
) -> None:
    api = served["api"]
    t = call(api, "POST", "/tenants", 201, json={"name": "initech"})
    site = call(
        api,
        "POST",
        "/sites",
        201,
        json={"name": "initech-hq", "tenant_id": t["id"], "lan_prefix": "10.30.0.0/24"},
    )
    device = {
        "name": "initech-cpe",
        "serial": "SN-INITECH",
        "site_id": site["id"],
        "wan_address": "198.51.100.2/24",
        "wan_gateway": "198.51.100.1",
    }
    call(api, "POST", "/devices", 201, json=device)
    nsd = call(
        api,
        "POST",
        "/ns_descriptors",
        201,
        json={
            "name": "initech-only",
            "tenant_id": t["id"],
            "chain": [{"name": "fw", "function": "firewall"}],
        },
    )
    order = {"name": "initech-net", "site_id": site["id"], "nsd_id": nsd["id"]}
    ns = call(api, "POST", "/ns_instances", 201, json=order)
    page = new_page()
    login(page, "globex-user", PW)
    own = page.goto(f"/services/{others['ns']['id']}")
    assert own is not None and own.status == 200
    for path, status in (
        (f"/services/{ns['id']}", 404),
        (f"/portal/order/{ns['id']}/confirm", 404),
        (f"/portal/order?nsd={nsd['id']}", 404),
        (f"/admin/tenants/{t['id']}", 403),
        ("/admin", 403),
        ("/audit", 403),
    ):
        resp = page.goto(path)
        assert resp is not None and resp.status == status, path
        assert "initech" not in page.content(), path
    shot(page, "tenant-denied")


def test_designer_builds_validates_and_publishes(new_page: Any, served: dict[str, Any]) -> None:
    page = new_page()
    login(page, ADMIN, ADMIN_PASSWORD)
    page.goto("/designer")
    page.get_by_label("Service name").fill("branch-secure")
    page.get_by_role("button", name="add firewall to the chain").click()
    page.get_by_role("button", name="add nat to the chain").click()
    # drag and drop: a router from the palette onto the chain, then remove it by keyboard
    page.locator(".fn-card", has_text="router").drag_to(page.locator("#chain"))
    assert page.locator(".chain-el").count() == 3
    page.get_by_role("button", name="remove rt").focus()
    page.keyboard.press("Enter")
    # keyboard ordering: nat up above the firewall, then back down
    page.get_by_role("button", name="move nat up").focus()
    page.keyboard.press("Enter")
    assert page.locator(".chain-el .kind").all_inner_texts() == ["nat", "firewall"]
    page.get_by_role("button", name="move nat down").click()
    assert page.locator(".chain-el .kind").all_inner_texts() == ["firewall", "nat"]
    # an invalid default rule: shown next to the firewall's parameters
    params = page.locator("#el-0-params")
    params.fill(json.dumps({"rules": [{"action": "allow", "src": "10.0.0.300/24"}]}))
    page.get_by_role("checkbox", name="rules").first.check()
    page.get_by_role("button", name="Validate").click()
    error = page.locator("#el-0-params-err")
    error.wait_for(state="visible")
    assert "rules[0].src" in error.inner_text()
    assert params.get_attribute("aria-invalid") == "true"
    shot(page, "designer-error")
    params.fill(json.dumps({"rules": [{"action": "allow", "src": "10.0.0.0/24"}]}))
    page.get_by_role("button", name="Validate").click()
    page.get_by_text("Valid: the catalog would accept this chain.").wait_for()
    page.get_by_role("button", name="Save as new version").click()
    page.get_by_text("Saved branch-secure version 1.").wait_for()
    page.get_by_role("button", name="Publish v1 to the catalog").click()
    page.get_by_text("Published to the catalog as branch-secure version 1.").wait_for()
    shot(page, "designer")
    nsds = {d["name"]: d for d in call(served["api"], "GET", "/ns_descriptors")}
    chain = nsds["branch-secure"]["chain"]
    assert [el["function"] for el in chain] == ["firewall", "nat"]
    assert chain[0]["customer_params"] == ["rules"]
