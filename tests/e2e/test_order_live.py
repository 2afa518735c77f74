"""A tenant orders a service in the Customer Portal and watches it come up live on a real
lab CPE device, then edits a firewall rule (first wrongly: the error shows next to the
field) and the change reaches the host: read back with `nft -j list ruleset`."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cloudcpe.nfvi.linux.lab import LabSite
from tests.e2e.conftest import call, login, shot

pytestmark = pytest.mark.kernel
expect = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright").expect
PW = "e2e-user-password"
LAN = "192.168.10.0/24"


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
    return {n["name"] for n in json.loads(out or "[]")}


def ruleset(netns: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-j", "list", "ruleset"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [o for o in json.loads(out)["nftables"] if "metainfo" not in o]


def firewall_namespace(prefix: str) -> str:
    for name in sorted(n for n in netns_names() if n.startswith(prefix)):
        if any(
            o.get("table", {}).get("name") == "ccpe" and o["table"]["family"] == "inet"
            for o in ruleset(name)
        ):
            return name  # fmt: skip
    raise AssertionError(f"no firewall namespace under {prefix}")


def dports(rules: list[dict[str, Any]]) -> list[Any]:
    """The destination ports the firewall's rules match on."""
    found = []
    for o in rules:
        for expr in o.get("rule", {}).get("expr", []):
            match = expr.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "dport":
                found.append(match["right"])
    return found


def in_thread(fn: Callable[[], None]) -> None:
    """pyroute2's synchronous API runs its own event loop: not in the thread where
    Playwright's sync API already runs one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(fn).result()


@pytest.fixture
def lab() -> Iterator[LabSite]:
    site = LabSite(f"e{secrets.token_hex(3)}")
    try:
        in_thread(site.up)
        yield site
    finally:
        in_thread(site.down)


@pytest.fixture
def acme(served: dict[str, Any], lab: LabSite) -> Iterator[dict[str, Any]]:
    api = served["api"]
    t = call(api, "POST", "/tenants", 201, json={"name": "acme"})
    site = call(
        api,
        "POST",
        "/sites",
        201,
        json={"name": "acme-hq", "tenant_id": t["id"], "lan_prefix": LAN},
    )
    device = call(
        api,
        "POST",
        "/devices",
        201,
        json={
            "name": "acme-cpe",
            "serial": "CPE-LAB-1",
            "site_id": site["id"],
            "wan_address": "203.0.113.2/24",
            "wan_gateway": "203.0.113.1",
            "netns": lab.host_netns,
        },
    )
    fw = {
        "rules": [
            {
                "action": "deny",
                "protocol": "tcp",
                "dst_ports": [8080],
                "description": "no alternate HTTP",
            },
            {"action": "allow", "src": LAN, "description": "the LAN may go out"},
        ]
    }
    call(
        api,
        "POST",
        "/ns_descriptors",
        201,
        json={
            "name": "secure-internet",
            "description": "firewall -> NAT",
            "chain": [
                {
                    "name": "fw",
                    "function": "firewall",
                    "params": fw,
                    "customer_params": ["rules", "default_action"],
                },
                {"name": "nat", "function": "nat"},
            ],
        },
    )
    call(api, "POST", "/users", 201,
         json={"name": "acme-user", "password": PW, "role": "tenant_user",
               "tenant_id": t["id"]})  # fmt: skip
    prefix = f"ccpe-{device['host_key']}-"
    yield {"tenant": t, "site": site, "device": device, "prefix": prefix}
    # leave nothing behind, also after a failure: terminate, then remove what remains
    for ns in call(api, "GET", "/ns_instances"):
        if ns["ns_state"] == "INSTANTIATED":
            op = call(api, "POST", f"/ns_instances/{ns['id']}/terminate", 202)
            deadline = time.monotonic() + 30
            while op["operation_state"] == "PROCESSING" and time.monotonic() < deadline:
                time.sleep(0.2)
                op = call(api, "GET", f"/ns_lcm_op_occs/{op['id']}")
    for name in netns_names():
        if name.startswith(prefix):
            subprocess.run(["ip", "netns", "del", name], check=False)


def test_tenant_orders_a_service_sees_it_live_and_edits_the_firewall(
    new_page: Any, served: dict[str, Any], acme: dict[str, Any]
) -> None:
    page = new_page()
    login(page, "acme-user", PW)
    shot(page, "customer-home-before")
    page.get_by_role("link", name="Order a service for acme-hq").click()
    page.get_by_label("Service from the catalog").select_option(
        label="secure-internet 1.0 — firewall -> NAT"
    )
    page.get_by_role("button", name="Choose this service").click()
    page.get_by_label("Service name").fill("hq-internet")
    assert page.get_by_label("dst ports of rule 1").input_value() == "8080"
    shot(page, "customer-order")
    page.get_by_role("button", name="Review the order").click()
    page.wait_for_url("**/confirm")
    shot(page, "customer-confirm")
    page.get_by_role("button", name="Confirm and start the service").click()
    page.wait_for_url("**/services/*")
    ns_id = page.url.rsplit("/", 1)[-1]
    # live: the badge turns "up" without a reload (server-sent events)
    badge = page.locator(f'h1 [data-ns-status="{ns_id}"]')
    page.wait_for_function(
        "id => document.querySelector(`h1 [data-ns-status=\"${id}\"]`).textContent === 'up'",
        arg=ns_id, timeout=30_000,
    )  # fmt: skip
    assert badge.inner_text() == "up"
    page.get_by_role("button", name="Apply the policy").wait_for()  # the page refreshed itself
    shot(page, "customer-service-up")
    fw_ns = firewall_namespace(acme["prefix"])
    assert 8080 in dports(ruleset(fw_ns))

    # a wrong source prefix: the API's validation, shown next to that field
    page.get_by_label("src of rule 2").fill("192.168.10.300/24")
    page.get_by_role("button", name="Apply the policy").click()
    error = page.locator("#err-fw-1-src")
    assert "IPv4" in error.inner_text()
    shot(page, "customer-firewall-error")
    page.get_by_label("src of rule 2").fill(LAN)
    page.get_by_label("dst ports of rule 1").fill("8081")
    page.get_by_role("button", name="Apply the policy").click()
    page.wait_for_url(re.compile(r".*/services/[^/]+(#operations)?$"))
    update_done = page.locator("#ops-body tr", has_text="UPDATE").filter(has_text="COMPLETED")
    update_done.first.wait_for(timeout=30_000)
    # the page refreshes itself once the update is done: the policy shows the new port
    expect(page.get_by_label("dst ports of rule 1")).to_have_value("8081", timeout=20_000)
    expect(page.locator(f'h1 [data-ns-status="{ns_id}"]')).to_have_text("up")
    shot(page, "customer-service-updated")
    ports = dports(ruleset(fw_ns))
    assert 8081 in ports and 8080 not in ports, ports

    page.goto("/portal")
    shot(page, "customer-home")
    tablet = new_page({"width": 820, "height": 1180})
    login(tablet, "acme-user", PW)
    shot(tablet, "customer-home-tablet")
    page.goto("/operations")
    shot(page, "customer-operations")
