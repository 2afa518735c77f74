"""The portals through HTTP (no browser): login per role, every page renders, role and
tenant checks (403 / 404), CSRF, and form validation shown next to the field."""

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


@pytest.fixture
def web(factory: SessionFactory) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    with TestClient(create_app(factory, None, run_worker=False)) as c:
        yield c


@pytest.fixture
def world(web: TestClient, factory: SessionFactory) -> dict[str, Any]:
    _, token = make_user(factory, "ops-admin", "operator_admin")
    root = bearer(token)
    make_user(factory, "ops-viewer", "operator")
    out: dict[str, Any] = {"root": root}
    for name, lan in (("acme", "192.168.10.0/24"), ("globex", "192.168.20.0/24")):
        t = create_tenant(web, root, name)
        site = create_site(web, root, t["id"], f"{name}-hq", lan)
        create_device(web, root, site["id"], f"{name}-cpe", serial=f"SN-{name}")
        make_user(factory, f"{name}-admin", "tenant_admin", t["id"])
        make_user(factory, f"{name}-user", "tenant_user", t["id"])
        out[name] = {"tenant": t, "site": site}
    nsd = create_nsd(web, root)
    out["nsd"] = nsd
    for name in ("acme", "globex"):
        out[name]["ns"] = ok(
            web.post(
                "/api/v1/ns_instances",
                headers=root,
                json={"name": "internet", "site_id": out[name]["site"]["id"], "nsd_id": nsd["id"]},
            ),
            201,
        )
    return out


def login_nonce(web: TestClient) -> str:
    match = re.search(r'name="nonce" value="([^"]+)"', web.get("/login").text)
    assert match
    return match.group(1)


def login(web: TestClient, name: str) -> str:
    web.cookies.clear()
    form = {"name": name, "password": PASSWORD, "nonce": login_nonce(web)}
    resp = web.post("/login", data=form, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    page = web.get(resp.headers["location"])
    assert page.status_code == 200
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_wrong_password_forged_login_and_anonymous_visits(
    web: TestClient, world: dict[str, Any]
) -> None:
    nonce = login_nonce(web)
    form = {"name": "acme-admin", "password": "nope-nope-nope", "nonce": nonce}
    resp = web.post("/login", data=form)
    assert resp.status_code == 401 and "wrong name or password" in resp.text
    web.cookies.clear()  # a login form posted from elsewhere: no matching nonce cookie
    forged = web.post("/login", data={"name": "acme-admin", "password": PASSWORD, "nonce": nonce})
    assert forged.status_code == 403 and "ccpe_session" not in forged.headers.get("set-cookie", "")
    resp = web.get("/admin/devices", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/admin/devices"


PAGES = {
    "ops-admin": ["/admin", "/admin/tenants", "/admin/devices", "/admin/sites", "/admin/pops",
                  "/admin/catalog",
                  "/admin/services", "/operations", "/users", "/audit", "/designer", "/account"],
    "ops-viewer": ["/admin", "/admin/devices", "/admin/catalog", "/operations", "/users",
                   "/designer"],
    "acme-admin": ["/portal", "/portal/order", "/operations", "/users", "/audit", "/designer",
                   "/account"],
    "acme-user": ["/portal", "/portal/order", "/operations", "/account"],
}  # fmt: skip


@pytest.mark.parametrize("user", sorted(PAGES))
def test_each_role_sees_its_pages(web: TestClient, world: dict[str, Any], user: str) -> None:
    login(web, user)
    for path in PAGES[user]:
        resp = web.get(path)
        assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text[:300]}"
        assert "<main" in resp.text


def test_roles_and_tenants_are_enforced_on_pages(web: TestClient, world: dict[str, Any]) -> None:
    login(web, "acme-user")
    assert web.get("/admin").status_code == 403
    assert web.get("/audit").status_code == 403
    assert web.get(f"/services/{world['acme']['ns']['id']}").status_code == 200
    other = web.get(f"/services/{world['globex']['ns']['id']}")
    assert other.status_code == 404 and "not found" in other.text
    login(web, "ops-admin")
    assert web.get("/portal").status_code == 403  # operators use the Administration Portal
    assert web.get(f"/services/{world['globex']['ns']['id']}").status_code == 200


def test_state_changes_need_the_csrf_token(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "ops-admin")
    form = {"name": "initech"}
    assert web.post("/admin/tenants", data=form).status_code == 403
    assert web.post("/admin/tenants", data={**form, "csrf": "forged"}).status_code == 403
    resp = web.post("/admin/tenants", data={**form, "csrf": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    audit = ok(web.get("/api/v1/audit", headers=world["root"]))
    assert audit[0]["request"] == "POST /admin/tenants" and audit[0]["actor"] == "ops-admin"


def test_read_only_operator_cannot_change_anything(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "ops-viewer")
    resp = web.post("/admin/tenants", data={"name": "initech", "csrf": csrf})
    assert resp.status_code == 403 and "operator_admin" in resp.text


def test_form_errors_appear_next_to_the_field(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "ops-admin")
    resp = web.post(
        "/admin/sites",
        data={"csrf": csrf, "tenant_id": world["acme"]["tenant"]["id"], "name": "branch",
              "lan_prefix": "192.168.10.0/25"},
    )  # fmt: skip
    assert resp.status_code == 422
    assert re.search(r'id="err-lan_prefix" role="alert">[^<]*overlaps', resp.text)


def test_firewall_rules_are_validated_like_the_api(
    web: TestClient, world: dict[str, Any], factory: SessionFactory
) -> None:
    from cloudcpe.lcm.models import NsInstance
    from cloudcpe.store.db import unit_of_work

    ns_id = world["acme"]["ns"]["id"]
    with unit_of_work(factory) as s:
        s.get_one(NsInstance, ns_id).ns_state = "INSTANTIATED"  # no worker in this test
    csrf = login(web, "acme-user")
    page = web.get(f"/services/{ns_id}")
    assert 'name="dst_ports"' in page.text and "Apply the policy" in page.text
    rules = {
        "csrf": csrf,
        "action": ["deny", "allow"],
        "protocol": ["any", "any"],
        "src": ["", "10.0.0.300/24"],
        "dst": ["", ""],
        "dst_ports": ["8080", ""],
        "description": ["", ""],
        "default_action": "deny",
    }
    resp = web.post(f"/services/{ns_id}/firewall/fw", data=rules)
    assert resp.status_code == 422
    assert 'id="err-fw-1-src"' in resp.text  # the second rule's source field
    assert "dst_ports needs protocol tcp or udp" in resp.text  # the first rule's row
    rules["src"] = ["", "192.168.10.0/24"]
    rules["protocol"] = ["tcp", "any"]
    resp = web.post(f"/services/{ns_id}/firewall/fw", data=rules, follow_redirects=False)
    assert resp.status_code == 303
    ops = ok(web.get(f"/api/v1/ns_lcm_op_occs?ns_instance_id={ns_id}", headers=world["root"]))
    assert ops[-1]["operation"] == "UPDATE"
    assert ops[-1]["operation_params"]["vnf_params"]["fw"]["rules"][0] == {
        "action": "deny", "protocol": "tcp", "dst_ports": [8080]
    }  # fmt: skip


def test_order_review_confirm(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "acme-user")
    page = web.get(f"/portal/order?nsd={world['nsd']['id']}")
    assert "Review the order" in page.text
    form = {
        "csrf": csrf,
        "nsd_id": world["nsd"]["id"],
        "site_id": world["acme"]["site"]["id"],
        "name": "Bad Name",
        "fw.action": ["allow"],
        "fw.protocol": ["any"],
        "fw.src": ["192.168.10.0/24"],
        "fw.dst": [""],
        "fw.dst_ports": [""],
        "fw.description": [""],
        "fw.default_action": "deny",
    }
    bad = web.post("/portal/order", data=form)
    assert bad.status_code == 422 and 'id="err-name"' in bad.text
    form["name"] = "branch-internet"
    resp = web.post("/portal/order", data=form, follow_redirects=False)
    assert resp.status_code == 303
    confirm = resp.headers["location"]
    assert "Confirm and start" in web.get(confirm).text
    done = web.post(confirm, data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/services/")


def test_designer_validates_saves_publishes(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "ops-admin")
    h = {"X-CSRF-Token": csrf}
    bad = {
        "name": "branch-secure",
        "chain": [
            {"name": "fw", "function": "firewall", "params": {"rules": [{"action": "maybe"}]}},
            {"name": "nat", "function": "nat", "customer_params": ["nope"]},
        ],
    }
    r = web.post("/designer/validate", json=bad, headers=h).json()
    names = {p["name"] for p in r["invalid_params"]}
    assert "body.chain[0].params.rules[0].action" in names
    assert "body.chain[1].customer_params[0]" in names
    assert web.post("/designer/validate", json=bad).status_code == 403  # no CSRF header
    good = {
        "name": "branch-secure",
        "chain": [
            {"name": "fw", "function": "firewall", "params": {"rules": []},
             "customer_params": ["rules"]},
            {"name": "nat", "function": "nat"},
        ],
    }  # fmt: skip
    saved = web.post("/designer/save", json=good, headers=h).json()
    again = web.post("/designer/save", json=good, headers=h).json()
    assert (saved["version"], again["version"]) == (1, 2)
    pub = web.post(f"/designer/{again['id']}/publish", headers=h)
    assert pub.status_code == 200, pub.text
    nsd = ok(web.get(f"/api/v1/ns_descriptors/{pub.json()['nsd_id']}", headers=world["root"]))
    assert nsd["version"] == "2" and nsd["chain"][0]["customer_params"] == ["rules"]


def test_failed_operation_can_be_rolled_back_from_the_page(
    web: TestClient, world: dict[str, Any], factory: SessionFactory
) -> None:
    from cloudcpe.lcm.models import LcmOperation
    from cloudcpe.store.db import unit_of_work

    ns_id = world["acme"]["ns"]["id"]
    op = ok(web.post(f"/api/v1/ns_instances/{ns_id}/instantiate", headers=world["root"]), 202)
    with unit_of_work(factory) as s:  # as if the worker had failed at a step
        row = s.get_one(LcmOperation, op["id"])
        row.operation_state = "FAILED_TEMP"
        row.error = {"status": 500, "title": "step 'apply' failed", "detail": "RTNETLINK: boom"}
    csrf = login(web, "acme-user")
    page = web.get("/operations")
    assert "RTNETLINK: boom" in page.text and f"/operations/{op['id']}/rollback" in page.text
    resp = web.post(f"/operations/{op['id']}/rollback", data={"csrf": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    got = ok(web.get(f"/api/v1/ns_lcm_op_occs/{op['id']}", headers=world["root"]))
    assert got["operation_state"] == "ROLLING_BACK"
    other = login(web, "globex-user")  # another tenant's operation: not found
    assert web.post(f"/operations/{op['id']}/retry", data={"csrf": other}).status_code == 404


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_login_never_redirects_off_site(
    web: TestClient, world: dict[str, Any], target: str
) -> None:
    form = {"name": "acme-user", "password": PASSWORD, "nonce": login_nonce(web), "next": target}
    resp = web.post("/login", data=form, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/portal"


def test_designer_exports_and_imports_sol001_nsd(web: TestClient, world: dict[str, Any]) -> None:
    csrf = login(web, "acme-admin")
    good = {
        "name": "branch-secure",
        "description": "fw then nat",
        "chain": [
            {"name": "fw", "function": "firewall", "params": {"rules": []}},
            {"name": "nat", "function": "nat"},
        ],
    }
    saved = web.post("/designer/save", json=good, headers={"X-CSRF-Token": csrf}).json()
    page = web.get(f"/designer?design={saved['id']}").text
    assert f'href="/designer/{saved["id"]}/export.yaml"' in page and 'for="d-import"' in page
    exported = web.get(f"/designer/{saved['id']}/export.yaml")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert "tosca_definitions_version" in exported.text and "cloudcpe.nodes.nfv" in exported.text
    files = {"nsd": ("nsd.yaml", exported.content, "application/yaml")}
    resp = web.post("/designer/import", data={"csrf": csrf}, files=files, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    page = web.get(resp.headers["location"]).text
    assert "branch-secure v2" in page
    bad = {"nsd": ("nsd.yaml", b"tosca_definitions_version: [", "application/yaml")}
    resp = web.post("/designer/import", data={"csrf": csrf}, files=bad)
    assert resp.status_code == 422
    assert re.search(r'id="d-import-err" role="alert">[^<]+<', resp.text)
    assert web.post("/designer/import", files=files).status_code == 403  # no CSRF token
    login(web, "globex-admin")  # another tenant's design: not found
    assert web.get(f"/designer/{saved['id']}/export.yaml").status_code == 404


def test_admin_onboards_enables_disables_deletes_vnf_packages(
    web: TestClient, world: dict[str, Any]
) -> None:
    from tests.catalog.packages import FW_VNFD_ID, firewall_package, make_zip

    csrf = login(web, "ops-admin")
    files = {"package": ("fw.zip", firewall_package(), "application/zip")}
    resp = web.post("/admin/catalog/packages", data={"csrf": csrf}, files=files,
                    follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303, resp.text
    (pkg,) = ok(web.get("/vnfpkgm/v1/vnf_packages", headers=world["root"]))
    assert (pkg["onboardingState"], pkg["operationalState"]) == ("ONBOARDED", "ENABLED")
    page = web.get("/admin/catalog").text
    assert FW_VNFD_ID in page and f'aria-label="disable package {FW_VNFD_ID}"' in page
    delete = f"/admin/catalog/packages/{pkg['id']}/delete"
    refused = web.post(delete, data={"csrf": csrf})
    assert refused.status_code == 409 and "disable it first" in refused.text
    state = f"/admin/catalog/packages/{pkg['id']}/state"
    assert web.post(state, data={"csrf": csrf, "state": "DISABLED"}).status_code == 200
    again = web.post(state, data={"csrf": csrf, "state": "DISABLED"})
    assert again.status_code == 409 and "already DISABLED" in again.text
    assert web.post(delete, data={"csrf": csrf}).status_code == 200
    assert ok(web.get("/vnfpkgm/v1/vnf_packages", headers=world["root"])) == []
    broken = {"package": ("bad.zip", make_zip({"hello.txt": "no TOSCA here"}), "application/zip")}
    assert web.post("/admin/catalog/packages", data={"csrf": csrf}, files=broken).status_code == 200
    (bad,) = ok(web.get("/vnfpkgm/v1/vnf_packages", headers=world["root"]))
    assert bad["onboardingState"] == "ERROR"
    assert bad["onboardingFailureDetails"]["detail"] in web.get("/admin/catalog").text
    empty = web.post("/admin/catalog/packages", data={"csrf": csrf})
    assert empty.status_code == 422 and 'id="err-package"' in empty.text
    in_use = web.post(f"/admin/catalog/{world['nsd']['id']}/delete", data={"csrf": csrf})
    assert in_use.status_code == 409 and 'id="catalog-notice"' in in_use.text
    nsd_state = f"/admin/catalog/{world['nsd']['id']}/state"
    assert web.post(nsd_state, data={"csrf": csrf, "state": "DISABLED"}).status_code == 200
    got = ok(web.get(f"/nsd/v1/ns_descriptors/{world['nsd']['id']}", headers=world["root"]))
    assert got["nsdOperationalState"] == "DISABLED"
    viewer = login(web, "ops-viewer")  # a read-only operator sees the catalog, may not change it
    assert 'action="/admin/catalog/packages"' not in web.get("/admin/catalog").text
    assert web.post(nsd_state, data={"csrf": viewer, "state": "ENABLED"}).status_code == 403


def test_admin_pops_and_compute_nodes_with_their_load(
    web: TestClient, world: dict[str, Any]
) -> None:
    csrf = login(web, "ops-admin")
    bad = web.post("/admin/pops", data={"csrf": csrf, "name": "par1", "public_pool": "nope"})
    assert bad.status_code == 422 and 'id="err-public_pool"' in bad.text
    form = {"csrf": csrf, "name": "par1", "public_pool": "198.51.100.128/26"}
    assert web.post("/admin/pops", data=form, follow_redirects=False).status_code == 303
    (pop,) = ok(web.get("/api/v1/pops", headers=world["root"]))
    node = {"csrf": csrf, "pop_id": pop["id"], "name": "par1-n1", "serial": "CN-1",
            "uplink_address": "198.51.100.11/24", "uplink_gateway": "198.51.100.1",
            "max_functions": "10"}  # fmt: skip
    wrong = web.post("/admin/compute_nodes", data={**node, "uplink_gateway": "x"})
    assert wrong.status_code == 422 and 'id="n-err-uplink_gateway"' in wrong.text
    assert web.post("/admin/compute_nodes", data=node, follow_redirects=False).status_code == 303
    (got,) = ok(web.get("/api/v1/compute_nodes", headers=world["root"]))
    assert got["name"] == "par1-n1" and got["max_functions"] == 10
    page = web.get("/admin/pops").text
    assert 'aria-label="load of par1-n1"' in page and "0 / 10" in page
    assert 'for="n-name"' in page and 'for="f-name"' in page
    viewer = login(web, "ops-viewer")  # POPs are for operator admins, as in the API
    assert 'href="/admin/pops"' not in web.get("/admin").text
    assert web.get("/admin/pops").status_code == 403
    assert web.post("/admin/pops", data={**form, "csrf": viewer}).status_code == 403
    login(web, "acme-admin")
    assert web.get("/admin/pops").status_code == 403


def test_admin_registers_agent_device_and_shows_its_activation_code_once(
    web: TestClient, world: dict[str, Any]
) -> None:
    from tests.support import activate

    root = world["root"]
    site = create_site(web, root, world["acme"]["tenant"]["id"], "acme-branch", "192.168.11.0/24")
    csrf = login(web, "ops-admin")
    page = web.get("/admin/devices").text
    assert 'for="f-management"' in page and "not yet reported" not in page
    form = {"csrf": csrf, "name": "acme-branch-cpe", "serial": "SN-AGENT-1",
            "site_id": site["id"], "wan_address": "203.0.113.9/24",
            "wan_gateway": "203.0.113.1", "management": "agent"}  # fmt: skip
    resp = web.post("/admin/devices", data=form)
    assert resp.status_code == 201 and resp.headers["cache-control"] == "no-store"
    code = re.search(r'id="activation-code">([^<]+)<', resp.text)
    assert code
    page = web.get("/admin/devices").text
    assert code.group(1) not in page  # shown once only
    assert "not activated yet" in page and ">never<" in page
    (dev,) = [
        d for d in ok(web.get("/api/v1/devices", headers=root)) if d["serial"] == "SN-AGENT-1"
    ]
    again = web.post(f"/admin/devices/{dev['id']}/activation_code", data={"csrf": csrf})
    assert again.status_code == 201 and "valid until" in again.text
    new = re.search(r'id="activation-code">([^<]+)<', again.text)
    assert new and new.group(1) != code.group(1)
    assert activate(web, "SN-AGENT-1", code.group(1)).status_code == 403  # the old one is void
    assert activate(web, "SN-AGENT-1", new.group(1)).status_code == 200
    page = web.get("/admin/devices").text
    assert "activated " in page
    viewer = login(web, "ops-viewer")
    assert "New activation code" not in web.get("/admin/devices").text
    refused = web.post(f"/admin/devices/{dev['id']}/activation_code", data={"csrf": viewer})
    assert refused.status_code == 403


def test_service_page_charts_the_traffic_counters_hosts_report(
    web: TestClient, world: dict[str, Any], factory: SessionFactory
) -> None:
    from cloudcpe.lcm.models import HostDocument, VnfInstance
    from cloudcpe.store.db import unit_of_work

    ns_id = world["acme"]["ns"]["id"]
    login(web, "acme-user")
    assert "No traffic counters yet" in web.get(f"/services/{ns_id}").text
    (dev,) = [d for d in ok(web.get("/api/v1/devices", headers=world["root"]))
              if d["serial"] == "SN-acme"]  # fmt: skip
    with unit_of_work(factory) as s:  # as if instantiated, and the agent had reported
        fw = VnfInstance(ns_instance_id=ns_id, host_id=dev["id"], position=0, name="fw",
                         function="firewall", key="k0")  # fmt: skip
        s.add(fw)
        s.flush()
        counters = {"ifname": "ccpe-lan", "rx_bytes": 123456, "tx_bytes": 654321}
        rule = {"table": "inet ccpe", "chain": "forward", "handle": 7, "comment": "allow-web",
                "packets": 42, "bytes": 4200}  # fmt: skip
        sample = {"host": dev["id"], "at": "2026-11-21T10:00:00+00:00",
                  "functions": [{"owner": fw.id, "namespace": "ccpe-x-k0",
                                 "interfaces": [counters], "rules": [rule]}]}  # fmt: skip
        s.add(HostDocument(host_id=dev["id"], telemetry={"sample": sample}))
    page = web.get(f"/services/{ns_id}").text
    assert "No traffic counters yet" not in page and "not yet reported" not in page
    assert 'aria-labelledby="if-fw-title"' in page and 'aria-labelledby="rules-fw-title"' in page
    assert "<td>allow-web</td><td>42</td><td>4200</td>" in page and "654,321" in page
    login(web, "globex-user")  # another tenant's service: not found
    assert web.get(f"/services/{ns_id}").status_code == 404


def test_topology_shows_cloud_sites_thin_cpe_and_their_pop(
    web: TestClient, world: dict[str, Any]
) -> None:
    from tests.support import create_cloud_site, create_pop

    root = world["root"]
    pop = create_pop(web, root, "par1")
    site = create_cloud_site(
        web, root, world["acme"]["tenant"]["id"], "acme-cloud", pop["id"], "192.168.12.0/24"
    )
    create_device(web, root, site["id"], "acme-thin", serial="SN-thin")
    login(web, "ops-admin")
    page = web.get("/admin").text
    assert "thin CPE acme-thin" in page and "POP par1" in page
    login(web, "acme-user")  # the tenant sees its cloud site, not the POP's name
    page = web.get("/portal").text
    assert "thin CPE acme-thin" in page and "POP par1" not in page
