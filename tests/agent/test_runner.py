"""The host agent's loop against the real agent API (in-process), with a fake NFVI driver
and a switch that cuts the orchestrator off: zero touch, edge autonomy, re-sync, restart."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cloudcpe.agent.runner import Agent, AgentConfig, AgentFailed
from cloudcpe.lcm.models import HostDocument
from cloudcpe.nfvi.model import (
    FunctionStatus,
    HostDesiredState,
    HostTelemetry,
    ObservedState,
)
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.agent.conftest import publish


class FakeDriver:
    def __init__(self) -> None:
        self.applied: list[int] = []
        self.samples = 0

    def apply(self, desired: HostDesiredState) -> ObservedState:
        self.applied.append(desired.version)
        return self.observe(desired)

    def observe(self, desired: HostDesiredState) -> ObservedState:
        functions = [
            FunctionStatus(owner=ns.owner, namespace=ns.name, state="running")
            for ns in desired.namespaces
        ]
        return ObservedState(host=desired.host, version=desired.version, functions=functions)

    def telemetry(self, desired: HostDesiredState) -> HostTelemetry:
        self.samples += 1
        return HostTelemetry(host=desired.host, at=datetime.now(UTC))


class Link:
    """The management network between agent and orchestrator, with an off switch."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.up = True

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if not self.up:
                raise httpx.ConnectError("connection refused", request=request)
            resp = self.client.request(
                request.method,
                request.url.raw_path.decode(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                content=request.content,
            )
            if not self.up:  # cut while the request was held (a long-poll)
                raise httpx.ReadError("connection reset", request=request)
            return httpx.Response(resp.status_code, headers=resp.headers, content=resp.content)

        return httpx.MockTransport(handle)


@pytest.fixture
def link(client: TestClient) -> Link:
    return Link(client)


def _config(tmp_path: Path, device: dict[str, Any], **extra: Any) -> AgentConfig:
    base: dict[str, Any] = {
        "url": "https://orchestrator.test",
        "serial": device["serial"],
        "state_dir": tmp_path / "state",
        "poll_wait": 0.5,
        "repair_interval": 0.3,
        "heartbeat_interval": 0.1,
        "backoff_min": 0.05,
        "backoff_max": 0.3,
    }
    return AgentConfig(**{**base, **extra})


def _running(agent: Agent) -> threading.Thread:
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def started() -> Iterator[list[Agent]]:
    agents: list[Agent] = []
    yield agents
    for agent in agents:
        agent.close(timeout=5)  # no request of theirs may outlive the app


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _recorded(factory: SessionFactory, host_id: str) -> tuple[int | None, Any]:
    with unit_of_work(factory) as s:
        doc = s.get(HostDocument, host_id)
        return (doc.observed_version, doc.telemetry) if doc else (None, None)


def test_zero_touch_then_the_state_directory_is_private(
    tmp_path: Path,
    link: Link,
    device: dict[str, Any],
    factory: SessionFactory,
    started: list[Agent],
) -> None:
    driver = FakeDriver()
    config = _config(tmp_path, device, activation_code=device["activation_code"])
    agent = Agent(config, driver=driver, transport=link.transport())
    started.append(agent)
    _running(agent)
    _until(lambda: _recorded(factory, device["id"])[0] == 0)
    assert driver.applied[0] == 0
    state = config.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("credential", "identity.json", "desired.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    assert (state / "credential").read_text().startswith("ccpa_")


def test_a_refused_code_stops_the_agent_and_leaves_no_identity(
    tmp_path: Path, link: Link, device: dict[str, Any]
) -> None:
    config = _config(tmp_path, device, activation_code="AAAA-BBBB-CCCC-DDDD-EEEE")
    agent = Agent(config, driver=FakeDriver(), transport=link.transport())
    with pytest.raises(AgentFailed, match="activation refused"):
        agent.run()
    assert not (config.state_dir / "identity.json").exists()
    assert not (config.state_dir / "credential").exists()


def test_cut_off_it_keeps_enforcing_and_counting_then_catches_up(
    tmp_path: Path,
    link: Link,
    device: dict[str, Any],
    factory: SessionFactory,
    started: list[Agent],
) -> None:
    driver = FakeDriver()
    config = _config(tmp_path, device, activation_code=device["activation_code"], telemetry_keep=5)
    agent = Agent(config, driver=driver, transport=link.transport())
    started.append(agent)
    _running(agent)
    _until(lambda: _recorded(factory, device["id"])[0] == 0)

    link.up = False
    version = publish(factory, device["id"])  # a change the agent cannot hear of yet
    applied_before = len(driver.applied)
    time.sleep(1.5)
    # the last desired state is re-applied (drift repair); telemetry is kept, bounded
    assert len(driver.applied) >= applied_before + 3
    assert set(driver.applied[applied_before:]) == {0}
    assert driver.samples > 5 and len(agent._telemetry) == 5

    link.up = True
    back = time.monotonic()
    _until(lambda: _recorded(factory, device["id"])[0] == version, timeout=5)
    assert time.monotonic() - back < 2  # backoff is capped: it re-syncs within seconds
    telemetry = _recorded(factory, device["id"])[1]
    assert telemetry["heartbeat"]["orchestrator_unreachable_s"] >= 0
    _until(lambda: len(agent._telemetry) <= 1)  # the backlog went up


def test_a_restarted_agent_enforces_its_saved_state_before_asking(
    tmp_path: Path,
    link: Link,
    device: dict[str, Any],
    factory: SessionFactory,
    started: list[Agent],
) -> None:
    config = _config(tmp_path, device, activation_code=device["activation_code"])
    first = Agent(config, driver=FakeDriver(), transport=link.transport())
    started.append(first)
    _running(first)
    _until(lambda: _recorded(factory, device["id"])[0] == 0)
    version = publish(factory, device["id"])
    _until(lambda: _recorded(factory, device["id"])[0] == version)
    first.close(timeout=5)

    link.up = False  # the orchestrator is away when the device reboots
    driver = FakeDriver()
    again = Agent(
        _config(tmp_path, device), driver=driver, transport=link.transport()
    )  # no code any more: it is activated
    started.append(again)
    _running(again)
    _until(lambda: driver.applied[:1] == [version])
    link.up = True
    newer = publish(factory, device["id"])
    _until(lambda: _recorded(factory, device["id"])[0] == newer)


def test_a_state_directory_of_another_serial_is_refused(
    tmp_path: Path, link: Link, device: dict[str, Any], started: list[Agent]
) -> None:
    config = _config(tmp_path, device, activation_code=device["activation_code"])
    first = Agent(config, driver=FakeDriver(), transport=link.transport())
    started.append(first)
    _running(first)
    _until(lambda: (config.state_dir / "identity.json").exists())
    other = Agent(
        _config(tmp_path, {"serial": "SN-other"}), driver=FakeDriver(), transport=link.transport()
    )
    with pytest.raises(AgentFailed, match="belongs to serial"):
        other.run()


def test_an_agent_insists_on_https() -> None:
    with pytest.raises(ValueError, match="not https"):
        Agent(AgentConfig(url="http://orch:8080", serial="x"), driver=FakeDriver())


class BrokenDriver(FakeDriver):
    def apply(self, desired: HostDesiredState) -> ObservedState:
        self.applied.append(desired.version)
        raise RuntimeError("netlink socket gone")


def test_a_driver_that_raises_is_reported_not_retried_in_a_loop(
    tmp_path: Path,
    link: Link,
    device: dict[str, Any],
    factory: SessionFactory,
    started: list[Agent],
) -> None:
    driver = BrokenDriver()
    config = _config(tmp_path, device, activation_code=device["activation_code"])
    agent = Agent(config, driver=driver, transport=link.transport())
    started.append(agent)
    _running(agent)

    def observed() -> Any:
        with unit_of_work(factory) as s:
            doc = s.get(HostDocument, device["id"])
            return doc.observed if doc else None

    _until(lambda: observed() is not None)
    assert observed()["errors"] == ["the agent could not apply it: netlink socket gone"]
    time.sleep(0.5)
    # retried by the repair timer (0.3 s here), not as fast as the orchestrator answers
    assert 1 <= len(driver.applied) <= 4
