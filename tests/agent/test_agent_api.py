"""/agent/v1: the long-poll, ordered idempotent reports, credential scoping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.inventory.models import NfviHost
from cloudcpe.lcm.models import HostDocument
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.agent.conftest import observed, publish
from tests.conftest import bearer
from tests.support import activate, create_agent_device, create_site, ok


def _later(seconds: float, fn: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        fn()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- long-poll


def test_a_newer_version_is_answered_at_once(client: TestClient, agent: dict[str, Any]) -> None:
    start = time.monotonic()
    resp = client.get("/agent/v1/desired?after=-1&wait=30", headers=agent["headers"])
    doc = ok(resp)
    assert time.monotonic() - start < 1
    assert (doc["host"], doc["version"], doc["namespaces"]) == (agent["host_key"], 0, [])
    assert resp.headers["etag"] == '"0"'


def test_an_unchanged_version_is_held_then_answered_204_without_body(
    client: TestClient, agent: dict[str, Any]
) -> None:
    start = time.monotonic()
    resp = client.get("/agent/v1/desired?after=0&wait=0.6", headers=agent["headers"])
    assert (resp.status_code, resp.content) == (204, b"")
    assert 0.5 < time.monotonic() - start < 3


def test_a_change_made_by_another_process_wakes_the_long_poll(
    client: TestClient, agent: dict[str, Any], factory: SessionFactory
) -> None:
    # nobody in this process is told: the API process's poller finds the change
    _later(0.5, lambda: publish(factory, agent["host_id"]))
    start = time.monotonic()
    doc = ok(client.get("/agent/v1/desired?after=0&wait=20", headers=agent["headers"]))
    took = time.monotonic() - start
    assert doc["version"] == 1
    assert 0.4 < took < 2.0, took


def test_a_change_announced_in_process_wakes_the_long_poll_at_once(
    client: TestClient, agent: dict[str, Any], factory: SessionFactory, board: Any
) -> None:
    def change() -> None:
        version = publish(factory, agent["host_id"])
        board.notify_threadsafe(agent["host_id"], version)  # as an in-process worker does

    _later(0.3, change)
    start = time.monotonic()
    doc = ok(client.get("/agent/v1/desired?after=0&wait=20", headers=agent["headers"]))
    assert doc["version"] == 1 and time.monotonic() - start < 1.0


def test_many_agents_wait_without_threads_and_each_wakes_only_for_its_host(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], factory: SessionFactory
) -> None:
    agents = []
    for i in range(3):
        site = create_site(client, operator, acme["tenant"]["id"], f"s{i}", f"10.{i}.0.0/24")
        dev = create_agent_device(client, operator, site["id"], f"cpe{i}")
        agents.append(ok(activate(client, dev["serial"], dev["activation_code"])))
    results: dict[int, tuple[int, float]] = {}

    def poll(i: int) -> None:
        start = time.monotonic()
        resp = client.get(
            "/agent/v1/desired?after=0&wait=2", headers=bearer(agents[i]["credential"])
        )
        results[i] = (resp.status_code, time.monotonic() - start)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    publish(factory, agents[1]["host_id"])
    for t in threads:
        t.join()
    assert results[1][0] == 200 and results[1][1] < 1.5
    assert results[0][0] == results[2][0] == 204


def test_long_poll_parameters_are_checked(client: TestClient, agent: dict[str, Any]) -> None:
    resp = client.get("/agent/v1/desired?after=0&wait=3600", headers=agent["headers"])
    assert resp.status_code == 422
    assert [p["name"] for p in resp.json()["invalid_params"]] == ["query.wait"]


# ---------------------------------------------------------------- reports


def _report(client: TestClient, agent: dict[str, Any], *observations: tuple[int, datetime]) -> Any:
    body = {
        "observations": [
            {"observed_at": at.isoformat(), "state": observed(agent["host_key"], v)}
            for v, at in observations
        ]
    }
    return ok(client.post("/agent/v1/report", json=body, headers=agent["headers"]))


def _stored(factory: SessionFactory, host_id: str) -> tuple[int | None, Any]:
    with unit_of_work(factory) as s:
        doc = s.get_one(HostDocument, host_id)
        return doc.observed_version, doc.observed


def test_reports_never_go_back_and_tolerate_duplicates(
    client: TestClient, agent: dict[str, Any], factory: SessionFactory
) -> None:
    for _ in range(3):
        publish(factory, agent["host_id"])
    t0 = datetime.now(UTC)
    assert _report(client, agent, (2, t0))["recorded_version"] == 2
    assert _report(client, agent, (1, t0 + timedelta(seconds=5)))["recorded_version"] == 2
    assert _report(client, agent, (2, t0))["recorded_version"] == 2  # a duplicate
    # a batch in any order: the newest wins
    ack = _report(client, agent, (3, t0), (1, t0), (2, t0 + timedelta(seconds=9)))
    assert ack == {"recorded_version": 3, "desired_version": 3}
    version, state = _stored(factory, agent["host_id"])
    assert (version, state["version"]) == (3, 3)
    # within one version, the later observation wins, an earlier one arriving late does not
    later = {"observed_at": (t0 + timedelta(seconds=1)).isoformat()}
    failed = observed(agent["host_key"], 3, state="failed")
    body = {"observations": [{**later, "state": failed}]}
    ok(client.post("/agent/v1/report", json=body, headers=agent["headers"]))
    assert _stored(factory, agent["host_id"])[1]["functions"][0]["state"] == "failed"
    _report(client, agent, (3, t0))
    assert _stored(factory, agent["host_id"])[1]["functions"][0]["state"] == "failed"


def test_heartbeats_and_telemetry_are_kept_and_the_host_is_seen(
    client: TestClient, operator: dict[str, str], agent: dict[str, Any], factory: SessionFactory
) -> None:
    now = datetime.now(UTC)
    sample = {"host": agent["host_key"], "at": now.isoformat(), "functions": []}
    body = {
        "heartbeat": {"at": now.isoformat(), "started_at": now.isoformat(), "passes": 4},
        "telemetry": [sample, {**sample, "at": (now - timedelta(seconds=30)).isoformat()}],
    }
    with unit_of_work(factory) as s:
        s.get_one(NfviHost, agent["host_id"]).last_seen_at = None
    ok(client.post("/agent/v1/report", json=body, headers=agent["headers"]))
    state = ok(client.get(f"/api/v1/devices/{agent['host_id']}/state", headers=operator))
    assert state["telemetry"]["heartbeat"]["passes"] == 4
    assert state["telemetry"]["sample"]["at"].startswith(now.isoformat()[:19])
    device = ok(client.get(f"/api/v1/devices/{agent['host_id']}", headers=operator))
    assert device["last_seen_at"] is not None


def test_a_report_about_another_host_is_refused_naming_the_field(
    client: TestClient, agent: dict[str, Any], factory: SessionFactory
) -> None:
    body = {
        "observations": [
            {"observed_at": datetime.now(UTC).isoformat(), "state": observed("other", 0)}
        ]
    }
    resp = client.post("/agent/v1/report", json=body, headers=agent["headers"])
    assert resp.status_code == 422
    assert [p["name"] for p in resp.json()["invalid_params"]] == ["body.observations[0].state.host"]
    assert _stored(factory, agent["host_id"]) == (None, None)


# ---------------------------------------------------------------- who may call what


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/devices"),
        ("GET", "/api/v1/devices/{host_id}"),
        ("GET", "/api/v1/devices/{host_id}/state"),
        ("POST", "/api/v1/devices/{host_id}/activation_code"),
    ],
)
def test_an_agent_credential_is_refused_on_the_product_api(
    client: TestClient, agent: dict[str, Any], method: str, path: str
) -> None:
    resp = client.request(method, path.format(host_id=agent["host_id"]), headers=agent["headers"])
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"


def test_only_agent_credentials_reach_the_agent_api(
    client: TestClient, operator: dict[str, str], agent: dict[str, Any]
) -> None:
    for headers in (operator, {}, bearer("ccpa_forged")):
        assert client.get("/agent/v1/desired", headers=headers).status_code == 401
        assert client.post("/agent/v1/report", json={}, headers=headers).status_code == 401


def test_an_agent_sees_only_its_own_host(
    client: TestClient,
    operator: dict[str, str],
    acme: dict[str, Any],
    agent: dict[str, Any],
    factory: SessionFactory,
) -> None:
    site = create_site(client, operator, acme["tenant"]["id"], "branch", "10.7.0.0/24")
    dev = create_agent_device(client, operator, site["id"], "branch-cpe")
    other = ok(activate(client, dev["serial"], dev["activation_code"]))
    for _ in range(2):
        publish(factory, other["host_id"])
    mine = ok(client.get("/agent/v1/desired?after=-1", headers=agent["headers"]))
    assert (mine["host"], mine["version"]) == (agent["host_key"], 0)
    theirs = ok(client.get("/agent/v1/desired?after=-1", headers=bearer(other["credential"])))
    assert (theirs["host"], theirs["version"]) == (other["host_key"], 2)


def test_polling_marks_the_host_seen_in_batches(
    client: TestClient, operator: dict[str, str], agent: dict[str, Any], factory: SessionFactory
) -> None:
    with unit_of_work(factory) as s:
        s.get_one(NfviHost, agent["host_id"]).last_seen_at = None
    assert client.get("/agent/v1/desired?after=0", headers=agent["headers"]).status_code == 204
    deadline = time.monotonic() + 5  # the API process's poller writes it every 2 s
    while (
        ok(client.get(f"/api/v1/devices/{agent['host_id']}", headers=operator))["last_seen_at"]
        is None
    ):
        assert time.monotonic() < deadline, "the poll was not recorded"
        time.sleep(0.1)


def test_a_stale_document_brought_by_the_poller_is_never_handed_out(
    client: TestClient, agent: dict[str, Any], factory: SessionFactory, board: Any
) -> None:
    publish(factory, agent["host_id"])  # the agent has version 1
    stale = {"host": agent["host_key"], "version": 0, "namespaces": []}

    def wake_with_stale() -> None:  # a poller that read before the agent's change
        board._loop.call_soon_threadsafe(board.notify, agent["host_id"], stale)

    _later(0.3, wake_with_stale)
    _later(0.8, lambda: publish(factory, agent["host_id"]))
    doc = ok(client.get("/agent/v1/desired?after=1&wait=10", headers=agent["headers"]))
    assert doc["version"] == 2
