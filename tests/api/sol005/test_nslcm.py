"""SOL005 NS Lifecycle Management (/nslcm/v1) with a recording host gateway instead of a
kernel: NS instances from onboarded NSDs, the LCM operations (instantiate, update, heal,
terminate) and the operation occurrences with the SOL005 state rules."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.inventory.models import NfviHost
from cloudcpe.nfvi.model import HostDesiredState, ObservedState
from cloudcpe.store.db import SessionFactory
from tests.api.sol005.conftest import problem
from tests.conftest import bearer, make_token
from tests.lcm.test_cloud import RecordingHosts
from tests.support import FIREWALL, create_device, create_nsd, create_site, create_tenant, ok

NS = "/nslcm/v1/ns_instances"
OPS = "/nslcm/v1/ns_lcm_op_occs"


class GatedHosts(RecordingHosts):
    """Records like RecordingHosts; while `gate` is clear, converge waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls = 0

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(20)
        return super().converge(host, desired)


@pytest.fixture
def recording() -> GatedHosts:
    return GatedHosts()


@pytest.fixture
def client(factory: SessionFactory, recording: GatedHosts) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    with TestClient(create_app(factory, recording, lease_seconds=5)) as c:
        yield c


@pytest.fixture
def acme(client: TestClient, operator: dict[str, str], factory: SessionFactory) -> dict[str, Any]:
    tenant = create_tenant(client, operator, "acme")
    site = create_site(client, operator, tenant["id"], "acme-hq")
    create_device(client, operator, site["id"], "acme-cpe")
    nsd = create_nsd(client, operator)
    token = bearer(make_token(factory, "acme-admin", tenant["id"]))
    return {"tenant": tenant, "site": site, "nsd": nsd, "headers": token}


def create_ns(
    client: TestClient, headers: dict[str, str], nsd_id: str, site_id: str, name: str = "svc"
) -> Any:
    body = {
        "nsdId": nsd_id,
        "nsName": name,
        "nsDescription": "an NS instance",
        "additionalParams": {"siteId": site_id},
    }
    return client.post(NS, json=body, headers=headers)


def wait_op(client: TestClient, headers: dict[str, str], location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        op: dict[str, Any] = ok(client.get(location, headers=headers))
        if op["operationState"] not in ("PROCESSING", "ROLLING_BACK"):
            return op
        assert time.monotonic() < deadline, op
        time.sleep(0.02)


def run(client: TestClient, headers: dict[str, str], path: str, body: Any) -> dict[str, Any]:
    resp = client.post(path, json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    assert not resp.content
    assert "/nslcm/v1/ns_lcm_op_occs/" in resp.headers["location"]
    return wait_op(client, headers, resp.headers["location"])


def instantiated(client: TestClient, acme: dict[str, Any]) -> dict[str, Any]:
    h = acme["headers"]
    ns = ok(create_ns(client, h, acme["nsd"]["id"], acme["site"]["id"]), 201)
    op = run(client, h, f"{NS}/{ns['id']}/instantiate", {"nsFlavourId": "default"})
    assert op["operationState"] == "COMPLETED", op
    return ok(client.get(f"{NS}/{ns['id']}", headers=h))  # type: ignore[no-any-return]


def test_create_read_list_delete(client: TestClient, acme: dict[str, Any]) -> None:
    h = acme["headers"]
    resp = create_ns(client, h, acme["nsd"]["id"], acme["site"]["id"])
    ns = ok(resp, 201)
    assert resp.headers["location"].endswith(f"{NS}/{ns['id']}")
    assert ns["nsState"] == "NOT_INSTANTIATED"
    assert (ns["nsInstanceName"], ns["nsdInfoId"]) == ("svc", acme["nsd"]["id"])
    assert ns["_links"]["instantiate"]["href"].endswith(f"{ns['id']}/instantiate")
    assert ok(client.get(f"{NS}/{ns['id']}", headers=h)) == ns
    listed = ok(client.get(NS, params={"filter": "(eq,nsState,NOT_INSTANTIATED)"}, headers=h))
    assert [n["id"] for n in listed] == [ns["id"]]
    assert ok(client.get(NS, params={"filter": "(eq,nsState,INSTANTIATED)"}, headers=h)) == []
    assert ok(client.delete(f"{NS}/{ns['id']}", headers=h), 204) is None
    problem(client.get(f"{NS}/{ns['id']}", headers=h), 404)


def test_create_refusals_name_the_field(
    client: TestClient, acme: dict[str, Any], operator: dict[str, str]
) -> None:
    h = acme["headers"]
    body = {"nsdId": acme["nsd"]["id"], "nsName": "x", "nsDescription": ""}
    problem(client.post(NS, json=body, headers=h), 400, "additionalParams")
    problem(create_ns(client, h, "nope", acme["site"]["id"]), 400, "nsdId")
    problem(create_ns(client, h, acme["nsd"]["id"], "nope"), 400, "additionalParams.siteId")
    patch = {"nsdOperationalState": "DISABLED"}
    ok(client.patch(f"/nsd/v1/ns_descriptors/{acme['nsd']['id']}", json=patch, headers=operator))
    problem(create_ns(client, h, acme["nsd"]["id"], acme["site"]["id"]), 400, "ENABLED")


def test_instantiate_update_heal_terminate(
    client: TestClient, acme: dict[str, Any], recording: GatedHosts
) -> None:
    h = acme["headers"]
    ns = instantiated(client, acme)
    assert ns["nsState"] == "INSTANTIATED"
    vnfs = {v["vnfInstanceName"]: v for v in ns["vnfInstance"]}
    assert vnfs["fw"]["vnfdId"] == "cloudcpe/firewall"
    assert vnfs["fw"]["vnfConfigurableProperties"] == FIREWALL
    problem(client.delete(f"{NS}/{ns['id']}", headers=h), 409, "NOT_INSTANTIATED")

    rules = {"rules": [{"action": "allow", "src": "192.168.10.0/24"}]}
    body = {
        "updateType": "MODIFY_VNF_INFORMATION",
        "modifyVnfInfoData": [
            {"vnfInstanceId": vnfs["fw"]["id"], "vnfConfigurableProperties": rules}
        ],
    }
    op = run(client, h, f"{NS}/{ns['id']}/update", body)
    assert (op["operationState"], op["lcmOperationType"]) == ("COMPLETED", "UPDATE")
    after = ok(client.get(f"{NS}/{ns['id']}", headers=h))
    assert after["vnfInstance"][0]["vnfConfigurableProperties"] == rules

    bad = {
        **body,
        "modifyVnfInfoData": [
            {"vnfInstanceId": vnfs["fw"]["id"], "vnfConfigurableProperties": {"rules": 5}}
        ],
    }
    problem(client.post(f"{NS}/{ns['id']}/update", json=bad, headers=h), 400, "rules")
    scale = {"scaleType": "SCALE_VNF"}
    problem(client.post(f"{NS}/{ns['id']}/scale", json=scale, headers=h), 400, "not supported")
    other = {"updateType": "ADD_VNF"}
    problem(client.post(f"{NS}/{ns['id']}/update", json=other, headers=h), 400, "ADD_VNF")

    before = recording.calls
    op = run(client, h, f"{NS}/{ns['id']}/heal", {"healNsData": {"degreeHealing": "HEAL_RESET"}})
    assert (op["operationState"], op["lcmOperationType"]) == ("COMPLETED", "HEAL")
    assert recording.calls > before  # the host was converged again

    op = run(client, h, f"{NS}/{ns['id']}/terminate", {})
    assert (op["operationState"], op["lcmOperationType"]) == ("COMPLETED", "TERMINATE")
    gone = ok(client.get(f"{NS}/{ns['id']}", headers=h))
    assert gone["nsState"] == "NOT_INSTANTIATED" and "vnfInstance" not in gone
    problem(client.post(f"{NS}/{ns['id']}/heal", json={}, headers=h), 409, "INSTANTIATED")
    ok(client.delete(f"{NS}/{ns['id']}", headers=h), 204)


def test_operation_occurrences_and_state_rules(
    client: TestClient, acme: dict[str, Any], recording: GatedHosts
) -> None:
    h = acme["headers"]
    ns = ok(create_ns(client, h, acme["nsd"]["id"], acme["site"]["id"]), 201)
    recording.broken = {"firewall"}
    failed = run(client, h, f"{NS}/{ns['id']}/instantiate", {"nsFlavourId": "default"})
    assert failed["operationState"] == "FAILED_TEMP", failed
    assert failed["error"]["status"] and failed["error"]["detail"]
    assert {"retry", "rollback", "fail", "self", "nsInstance"} <= set(failed["_links"])
    assert failed["isCancelPending"] is False and failed["isAutomaticInvocation"] is False
    op_url = f"{OPS}/{failed['id']}"
    problem(client.post(f"{op_url}/continue", headers=h), 409, "continue")
    problem(client.post(f"{op_url}/cancel", json={"cancelMode": "GRACEFUL"}, headers=h), 409)

    listed = ok(client.get(OPS, params={"filter": "(eq,operationState,FAILED_TEMP)"}, headers=h))
    assert [o["id"] for o in listed] == [failed["id"]]

    recording.broken = set()
    resp = client.post(f"{op_url}/retry", headers=h)
    assert resp.status_code == 202 and resp.headers["location"].endswith(op_url)
    done = wait_op(client, h, op_url)
    assert done["operationState"] == "COMPLETED", done
    for task in ("retry", "rollback", "fail"):
        problem(client.post(f"{op_url}/{task}", headers=h), 409, "COMPLETED")

    # a failed update given up: fail answers the operation (200)
    recording.broken = {"firewall"}
    fw = ok(client.get(f"{NS}/{ns['id']}", headers=h))["vnfInstance"][0]
    body = {
        "updateType": "MODIFY_VNF_INFORMATION",
        "modifyVnfInfoData": [{"vnfInstanceId": fw["id"], "vnfConfigurableProperties": FIREWALL}],
    }
    upd = run(client, h, f"{NS}/{ns['id']}/update", body)
    assert upd["operationState"] == "FAILED_TEMP"
    gave_up = ok(client.post(f"{OPS}/{upd['id']}/fail", headers=h))
    assert gave_up["operationState"] == "FAILED" and gave_up["id"] == upd["id"]


def test_cancel_stops_at_the_next_step_boundary(
    client: TestClient, acme: dict[str, Any], recording: GatedHosts
) -> None:
    h = acme["headers"]
    ns = ok(create_ns(client, h, acme["nsd"]["id"], acme["site"]["id"]), 201)
    recording.gate.clear()
    recording.entered.clear()
    resp = client.post(f"{NS}/{ns['id']}/instantiate", json={"nsFlavourId": "x"}, headers=h)
    op_url = resp.headers["location"]
    assert recording.entered.wait(10)  # the worker is inside `apply`
    cancel = client.post(f"{op_url}/cancel", json={"cancelMode": "GRACEFUL"}, headers=h)
    assert cancel.status_code == 202, cancel.text
    pending = ok(client.get(op_url, headers=h))
    assert (pending["operationState"], pending["isCancelPending"]) == ("PROCESSING", True)
    assert pending["cancelMode"] == "GRACEFUL" and "cancel" not in pending["_links"]
    problem(client.post(f"{op_url}/cancel", json={"cancelMode": "FORCEFUL"}, headers=h), 409)
    recording.gate.set()
    stopped = wait_op(client, h, op_url)
    assert (stopped["operationState"], stopped["isCancelPending"]) == ("FAILED_TEMP", False)
    assert "cancelled" in stopped["error"]["title"]
    # apply had finished; retry completes what is left (nothing but the bookkeeping)
    ok(client.post(f"{op_url}/retry", headers=h), 202)
    assert wait_op(client, h, op_url)["operationState"] == "COMPLETED"


def test_tenants_see_only_their_own(
    client: TestClient, acme: dict[str, Any], operator: dict[str, str], factory: SessionFactory
) -> None:
    ns = instantiated(client, acme)
    other = create_tenant(client, operator, "globex")
    h2 = bearer(make_token(factory, "globex-admin", other["id"]))
    problem(client.get(f"{NS}/{ns['id']}", headers=h2), 404)
    assert ok(client.get(NS, headers=h2)) == []
    assert ok(client.get(OPS, headers=h2)) == []
    problem(client.post(f"{NS}/{ns['id']}/terminate", json={}, headers=h2), 404)
    # and another tenant's site cannot be named
    problem(create_ns(client, h2, acme["nsd"]["id"], acme["site"]["id"]), 400, "siteId")
    assert [n["id"] for n in ok(client.get(NS, headers=operator))] == [ns["id"]]


def test_selectors_and_strict_query(client: TestClient, acme: dict[str, Any]) -> None:
    h = acme["headers"]
    ns = instantiated(client, acme)
    plain = ok(client.get(NS, headers=h))[0]
    assert "vnfInstance" not in plain  # exclude_default
    full = ok(client.get(NS, params={"all_fields": ""}, headers=h))[0]
    assert len(full["vnfInstance"]) == 2
    problem(client.get(NS, params={"bogus": "1"}, headers=h), 400, "bogus")
    problem(client.get(f"{NS}/{ns['id']}", params={"all_fields": ""}, headers=h), 400)
    resp = client.get(NS, headers={**h, "Accept": "text/html"})
    problem(resp, 406)
