"""The LCM and agent-managed hosts: an operation completes once the host confirms the version,
and ends FAILED_TEMP with a clear reason when it does not. No kernel: the agent's side is
played over the agent API."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from cloudcpe.agent.board import VersionBoard
from tests.support import activate, create_nsd, ok, wait_operation


def _order(client: TestClient, operator: dict[str, str], site_id: str) -> tuple[str, str]:
    nsd = create_nsd(client, operator)
    ns = ok(
        client.post(
            "/api/v1/ns_instances",
            headers=operator,
            json={"name": "svc", "site_id": site_id, "nsd_id": nsd["id"]},
        ),
        201,
    )
    op = ok(client.post(f"/api/v1/ns_instances/{ns['id']}/instantiate", headers=operator), 202)
    return ns["id"], op["id"]


def _play_agent(client: TestClient, agent: dict[str, Any], state: str = "running") -> int:
    """What an agent does: take the new document, 'apply' it, report what it observed."""
    doc = ok(client.get("/agent/v1/desired?after=0&wait=10", headers=agent["headers"]))
    functions = [
        {"owner": ns["owner"], "namespace": ns["name"], "state": state, "reason": "no carrier"}
        for ns in doc["namespaces"]
    ]
    body = {
        "observations": [
            {
                "observed_at": datetime.now(UTC).isoformat(),
                "state": {"host": doc["host"], "version": doc["version"], "functions": functions},
            }
        ]
    }
    ok(client.post("/agent/v1/report", json=body, headers=agent["headers"]))
    return int(doc["version"])


def test_an_operation_completes_when_the_agent_confirms(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], agent: dict[str, Any]
) -> None:
    _, op_id = _order(client, operator, acme["site"]["id"])
    assert _play_agent(client, agent) == 1
    op = wait_operation(client, operator, op_id)
    assert op["operation_state"] == "COMPLETED", op
    state = ok(client.get(f"/api/v1/devices/{agent['host_id']}/state", headers=operator))
    assert state["observed"]["version"] == state["version"] == 1


def test_a_failed_function_reported_by_the_agent_fails_the_operation(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], agent: dict[str, Any]
) -> None:
    _, op_id = _order(client, operator, acme["site"]["id"])
    _play_agent(client, agent, state="failed")
    op = wait_operation(client, operator, op_id)
    assert op["operation_state"] == "FAILED_TEMP"
    assert "function 'fw' on host 'acme-cpe' is failed: no carrier" in op["error"]["detail"]


def test_a_host_that_does_not_confirm_fails_temp_with_the_reason(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], device: dict[str, Any]
) -> None:
    # registered, never activated: the conftest gateway waits 3 s
    _, op_id = _order(client, operator, acme["site"]["id"])
    start = time.monotonic()
    op = wait_operation(client, operator, op_id, timeout=15)
    assert op["operation_state"] == "FAILED_TEMP"
    assert 2.5 < time.monotonic() - start < 8
    assert op["error"]["detail"] == (
        "host 'acme-cpe' did not confirm version 1 within 3 s (never seen: not activated yet)"
    )
    # the document waits for the agent; once it activates and confirms, a retry completes
    got = ok(activate(client, device["serial"], device["activation_code"]))
    agent = {**got, "headers": {"Authorization": f"Bearer {got['credential']}"}}
    _play_agent(client, agent)
    ok(client.post(f"/api/v1/ns_lcm_op_occs/{op_id}/retry", headers=operator), 202)
    assert wait_operation(client, operator, op_id)["operation_state"] == "COMPLETED"


def test_a_silent_activated_host_is_reported_with_when_it_was_last_seen(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], agent: dict[str, Any]
) -> None:
    _, op_id = _order(client, operator, acme["site"]["id"])
    op = wait_operation(client, operator, op_id, timeout=15)
    assert op["operation_state"] == "FAILED_TEMP"
    detail = op["error"]["detail"]
    assert detail.startswith("host 'acme-cpe' did not confirm version 1 within 3 s (last seen ")
    assert " s ago, at " in detail


def test_the_gateway_picks_embedded_or_agent_by_the_host_management() -> None:
    from cloudcpe.agent.gateway import DispatchingHosts
    from cloudcpe.inventory.models import Device
    from cloudcpe.nfvi.model import HostDesiredState, ObservedState

    class Seen:
        def __init__(self, name: str) -> None:
            self.name = name

        def converge(self, host: Any, desired: HostDesiredState) -> ObservedState:
            return ObservedState(host=self.name, version=desired.version)

    gateway = DispatchingHosts(embedded=Seen("embedded"), agent=Seen("agent"))
    for management in ("embedded", "agent"):
        host = Device(management=management, host_key="abc")
        assert gateway.converge(host, HostDesiredState(host="abc")).host == management


def test_thousands_of_waiters_cost_one_slot_per_host_and_wake_together() -> None:
    async def scenario() -> tuple[int, int, int, float]:
        board = VersionBoard()
        woken = 0

        async def wait(host: str) -> None:
            nonlocal woken
            async with board.watch(host) as watch:
                if await watch.changed(5):
                    woken += 1

        hosts = [f"h{i}" for i in range(2000)]
        tasks = [asyncio.create_task(wait(h)) for h in hosts for _ in range(2)]
        await asyncio.sleep(0.1)
        slots, waiting = len(board.watched()), board.waiting()
        start = time.monotonic()
        for h in hosts:
            board.notify(h)
        await asyncio.gather(*tasks)
        assert board.watched() == set()  # slots go with their last waiter
        return slots, waiting, woken, time.monotonic() - start

    slots, waiting, woken, took = asyncio.run(scenario())
    assert (slots, waiting, woken) == (2000, 4000, 4000)
    assert took < 2
