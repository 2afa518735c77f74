"""Host agents end to end, every part a real process on the real kernel.

An orchestrator (`serve` processes: agent-facing API, operator API, LCM workers; TLS from
a lab CA) lives in its own namespace; three CPE devices, each a namespace with its own
`cloudcpe agent`, reach it over a management network with real addresses. The devices
activate by zero touch and run firewall -> nat chains that real packets prove. Then things
are killed: the agents' API (traffic keeps flowing, policy keeps enforcing, a change made
meanwhile arrives within seconds of its return), an agent (nothing recreated, an
established connection survives), a worker in the middle of an instantiate (PostgreSQL:
another worker finishes it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cloudcpe.nfvi.linux.lab import TcpServer, hold_connection
from tests.integration.conftest import ip_json, nft_ruleset
from tests.integration.fleet import (
    LEASE_SECONDS,
    Fleet,
    Site,
    host_row,
    operation_row,
)

pytestmark = pytest.mark.kernel

POLICY = {
    "rules": [
        {"action": "deny", "protocol": "tcp", "dst_ports": [8080]},
        {"action": "allow"},
    ]
}
CHAIN = [
    {"name": "fw", "function": "firewall", "params": POLICY},
    {"name": "nat", "function": "nat"},
]


def _is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _empty(url: str) -> None:
    from cloudcpe.store.base import Base
    from cloudcpe.store.db import make_engine

    engine = make_engine(url, pooled=False)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))
    engine.dispose()


@pytest.fixture(scope="module")
def fleet(migrated_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three activated CPE devices, each with an instantiated firewall -> nat chain."""
    _empty(migrated_url)
    fleet = Fleet(
        tmp_path_factory.mktemp("fleet"),
        migrated_url,
        workers=2 if _is_postgres(migrated_url) else 1,
    )
    try:
        fleet.up()
        tenant = fleet.call("POST", "/tenants", 201, json={"name": f"fleet{fleet.tag}"})
        fleet.tenant_id = tenant["id"]  # type: ignore[attr-defined]
        nsd = fleet.call(
            "POST", "/ns_descriptors", 201, json={"name": "secure-internet", "chain": CHAIN}
        )
        sites = [fleet.add_site(tenant["id"], nsd["id"]) for _ in range(3)]
        start = time.monotonic()
        for site in sites:  # zero touch: serial + one-time code, nothing else
            fleet.start_agent(site)
        ops = [
            fleet.call("POST", f"/ns_instances/{s.ns['id']}/instantiate", 202)["id"] for s in sites
        ]
        for op_id in ops:
            op = fleet.wait_operation(op_id)
            assert op["operation_state"] == "COMPLETED", f"{op}\n{fleet.tails()}"
        fleet.activation_s = time.monotonic() - start  # type: ignore[attr-defined]
        yield fleet
    finally:
        left = fleet.close()
        assert not left, f"the fleet left behind: {left}"


def _state(fleet: Fleet, site: Site) -> dict[str, Any]:
    result: dict[str, Any] = fleet.call("GET", f"/devices/{site.device['id']}/state")
    return result


def _fw_namespace(site: Site) -> str:
    for name in sorted(site.function_namespaces()):
        tables = nft_ruleset(name)
        if any("table" in o and o["table"]["name"] == "ccpe" for o in tables):
            return name
    raise AssertionError(f"no firewall namespace among {site.function_namespaces()}")


def test_three_devices_activate_by_zero_touch_and_carry_traffic(fleet: Fleet) -> None:
    print(f"zero touch to three running chains: {fleet.activation_s:.2f} s")  # type: ignore[attr-defined]
    for site in fleet.sites:
        device = fleet.call("GET", f"/devices/{site.device['id']}")
        assert device["activated_at"] is not None and device["last_seen_at"] is not None
        state = _state(fleet, site)
        assert state["observed"]["version"] == state["version"] >= 1
        assert {f["state"] for f in state["observed"]["functions"]} == {"running"}
        assert state["telemetry"]["heartbeat"]["applied_version"] == state["version"]
        # the agent made its functions in namespaces everyone sees (not a private mount)
        assert len(site.function_namespaces()) == 2
        assert {link["ifname"] for link in ip_json(_fw_namespace(site), "link")} >= {
            "ccpe-in",
            "ccpe-out",
        }
        with TcpServer(site.lab.inet_netns, 80) as web, TcpServer(site.lab.inet_netns, 8080):
            assert fleet.passes(site, 80, timeout=3), fleet.tails()
            assert not fleet.passes(site, 8080, timeout=0.3)
            assert web.peers == ["203.0.113.2"]  # source NAT by the chain
    # the state directory is private; credentials and codes never reach a log
    agent_dir = fleet.dir / "agent1"
    assert (
        agent_dir.stat().st_mode & 0o777,
        (agent_dir / "credential").stat().st_mode & 0o777,
    ) == (
        0o700,
        0o600,
    )
    secrets = [
        (fleet.dir / f"agent{s.index}" / "credential").read_text().strip() for s in fleet.sites
    ]
    secrets += [s.code for s in fleet.sites] + [fleet.token]
    for log in fleet.dir.glob("*.log"):
        content = log.read_text(errors="replace")
        assert not [s for s in secrets if s in content], f"a secret in {log}"
        assert '"namespaces"' not in content, f"a document in {log}"
    assert "/agent/v1/desired?after=" in (fleet.dir / "api-agents.log").read_text()


def test_wrong_and_reused_codes_are_refused_and_assign_nothing(fleet: Fleet) -> None:
    site = fleet.call(
        "POST",
        "/sites",
        201,
        json={"name": "spare", "tenant_id": fleet.tenant_id, "lan_prefix": "10.99.0.0/24"},  # type: ignore[attr-defined]
    )
    device = fleet.register("spare", site["id"])
    serial, code = device["serial"], device["activation_code"]
    first_ns = fleet.mgmt.add_host("h-a", 50)
    clone_ns = fleet.mgmt.add_host("h-b", 51)

    wrong = fleet.agent(
        "agent-wrong", first_ns, serial, "AAAA-BBBB-CCCC-DDDD-EEEE", fleet.dir / "w"
    )
    assert wrong.wait_exit(30) == 3, wrong.tail()
    assert "activation refused" in wrong.tail()
    assert host_row(fleet.database_url, device["id"]) == {
        "activated_at": None,
        "credential_hash": None,
        "activation_code_hash": host_row(fleet.database_url, device["id"])["activation_code_hash"],
    }
    assert not (fleet.dir / "w" / "identity.json").exists()

    good = fleet.agent("agent-spare", first_ns, serial, code, fleet.dir / "spare")
    fleet.until(
        lambda: host_row(fleet.database_url, device["id"])["activated_at"] is not None,
        what="the spare device activates",
    )
    activated = host_row(fleet.database_url, device["id"])
    clone = fleet.agent("agent-clone", clone_ns, serial, code, fleet.dir / "clone")
    assert clone.wait_exit(30) == 3, clone.tail()
    assert "activation refused" in clone.tail()
    assert host_row(fleet.database_url, device["id"]) == activated  # nothing re-assigned
    assert good.alive()
    log = (fleet.dir / "api-agents.log").read_text()
    assert "wrong activation code" in log and "already used" in log
    good.stop()


def test_the_agents_api_killed_traffic_and_policy_hold_and_a_change_made_meanwhile_lands(
    fleet: Fleet,
) -> None:
    """What we kill: the orchestrator process the agents talk to (the agent-facing API),
    with SIGKILL. The operator API, the workers and the database stay up, so the operator
    can still change the policy while the agents cannot be reached: that change is what has
    to arrive, within seconds of the agents' API coming back."""
    site = fleet.sites[0]
    with contextlib.ExitStack() as servers:
        for s in fleet.sites:
            for port in (80, 8080):
                servers.enter_context(TcpServer(s.lab.inet_netns, port))
        for port in (8081, 9000):
            servers.enter_context(TcpServer(site.lab.inet_netns, port))
        held = hold_connection(site.lab.lan_netns, site.lab.server, 9000, timeout=3)
        assert held.exchange(b"before\n") == b"before\n"
        fleet.agents_api.kill()

        t_down = time.monotonic()
        while time.monotonic() - t_down < 3:  # edge autonomy: the chains keep working
            for s in fleet.sites:
                assert fleet.passes(s, 80), f"site {s.index} lost traffic\n{fleet.tails()}"
                assert not fleet.passes(s, 8080, timeout=0.2)
        assert held.exchange(b"during\n") == b"during\n"
        assert fleet.passes(site, 8081)

        rules = [
            {"action": "deny", "protocol": "tcp", "dst_ports": [8080, 8081]},
            {"action": "allow"},
        ]
        op = fleet.call(
            "POST",
            f"/ns_instances/{site.ns['id']}/update",
            202,
            json={"vnf_params": {"fw": {"rules": rules}}},
        )
        time.sleep(1.5)  # rendered by a worker, but no agent can fetch it
        assert operation_row(fleet.database_url, op["id"])["step"] == "apply"
        assert fleet.passes(site, 8081), "the change cannot have arrived yet"

        fleet.restart(fleet.agents_api)
        t_back = time.monotonic()
        fleet.wait_http(fleet.agents_api, 8443)
        listening = time.monotonic() - t_back
        applied = fleet.until(
            lambda: not fleet.passes(site, 8081, timeout=0.2), timeout=15, what="the change lands"
        )
        print(f"agents' API back after {listening:.2f} s; change enforced after {applied:.2f} s")
        assert applied < 10
        assert fleet.wait_operation(op["id"])["operation_state"] == "COMPLETED"
        assert fleet.passes(site, 80) and held.exchange(b"after\n") == b"after\n"
        held.close()
    # the agents noticed the outage and said so
    heartbeat = _state(fleet, site)["telemetry"]["heartbeat"]
    assert heartbeat["applied_version"] == _state(fleet, site)["version"]


def _inodes(names: set[str]) -> dict[str, int]:
    return {n: os.stat(f"/run/netns/{n}").st_ino for n in names}


def test_an_agent_killed_and_restarted_recreates_nothing_and_keeps_a_connection(
    fleet: Fleet,
) -> None:
    site = fleet.sites[1]
    assert site.agent is not None
    names = site.function_namespaces()
    before = _inodes(names)
    fw = _fw_namespace(site)
    indexes = {link["ifname"]: link["ifindex"] for link in ip_json(fw, "link")}
    started = _state(fleet, site)["telemetry"]["heartbeat"]["started_at"]
    with TcpServer(site.lab.inet_netns, 9000):
        held = hold_connection(site.lab.lan_netns, site.lab.server, 9000, timeout=3)
        assert held.exchange() == b"ping\n"
        site.agent.kill()
        assert held.exchange() == b"ping\n"  # the functions do not depend on their agent
        assert fleet.passes(site, 9000)
        packets_before = _fw_packets(fw)

        fleet.restart(site.agent)  # same state dir, no activation code any more
        fleet.until(
            lambda: _state(fleet, site)["telemetry"]["heartbeat"]["started_at"] != started,
            what="the restarted agent reports",
        )
        fleet.until(
            lambda: _state(fleet, site)["telemetry"]["heartbeat"]["passes"] >= 1,
            what="the restarted agent reconciles",
        )
        assert site.function_namespaces() == names
        assert _inodes(names) == before  # the same namespaces, not new ones of the same name
        assert {link["ifname"]: link["ifindex"] for link in ip_json(fw, "link")} == indexes
        assert _fw_packets(fw) >= packets_before  # counters not reset
        assert held.exchange(b"across the restart\n") == b"across the restart\n"
        held.close()
    assert "activated as" not in site.agent.tail(lines=8)
    assert "enforcing the saved desired state" in site.agent.tail(lines=40)


def _fw_packets(netns: str) -> int:
    return sum(
        e["counter"]["packets"]
        for o in nft_ruleset(netns)
        if "rule" in o
        for e in o["rule"]["expr"]
        if isinstance(e, dict) and "counter" in e
    )


def test_a_worker_killed_mid_instantiate_is_taken_over(fleet: Fleet) -> None:
    if not _is_postgres(fleet.database_url):
        pytest.skip(
            "several worker processes on one database are a PostgreSQL deployment "
            "(CLOUDCPE_TEST_DATABASE_URL); the SQLite run covers the lease logic in tests/lcm"
        )
    site = fleet.sites[2]
    assert site.agent is not None
    op = fleet.call("POST", f"/ns_instances/{site.ns['id']}/terminate", 202)
    assert fleet.wait_operation(op["id"])["operation_state"] == "COMPLETED"
    assert not site.function_namespaces()

    site.agent.signal(signal.SIGSTOP)  # the host is slow to confirm: apply waits on it
    op = fleet.call("POST", f"/ns_instances/{site.ns['id']}/instantiate", 202)
    fleet.until(
        lambda: operation_row(fleet.database_url, op["id"])["step"] == "apply",
        what="the instantiate reaches apply",
    )
    owner = operation_row(fleet.database_url, op["id"])["owner"]
    pid = int(owner.split(":")[1])
    (victim,) = [w for w in fleet.workers if w.pid == pid]
    # a live worker keeps its lease through a long step (renewed by its heartbeat)
    time.sleep(LEASE_SECONDS + 1.5)
    assert operation_row(fleet.database_url, op["id"])["owner"] == owner

    victim.kill()
    site.agent.signal(signal.SIGCONT)
    took = fleet.until(
        lambda: operation_row(fleet.database_url, op["id"])["state"] != "PROCESSING",
        timeout=30,
        what="another worker completes the operation",
    )
    print(f"operation completed {took:.2f} s after its worker was killed")
    final = fleet.wait_operation(op["id"])
    assert final["operation_state"] == "COMPLETED", final
    assert final["steps_done"] == ["place", "render", "apply"]
    (survivor,) = [w for w in fleet.workers if w is not victim]
    done = f"operation {op['id']} INSTANTIATE -> COMPLETED"
    assert done in survivor.log.read_text() and done not in victim.log.read_text()
    with TcpServer(site.lab.inet_netns, 80):
        fleet.until(lambda: fleet.passes(site, 80), what="traffic through the re-made chain")
    fleet.restart(victim)


def _fleet_processes(fleet: Fleet) -> dict[int, str]:
    """pid -> name of every process running with the fleet's data directory."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"CLOUDCPE_DATA_DIR={fleet.dir}/data".encode() in environ:
            found[int(entry.name)] = comm
    return found


def test_every_process_of_the_fleet_is_named_and_known(fleet: Fleet) -> None:
    """Every process this module started carries the ccpe prefix (ps, pgrep) once started,
    and none got away from the fleet's bookkeeping (which stops them all at the end)."""
    fleet.until(
        lambda: all(name.startswith("ccpe-") for name in _fleet_processes(fleet).values()),
        timeout=15,
        what=f"processes named ccpe-*: {_fleet_processes(fleet)}",
    )
    assert set(_fleet_processes(fleet)) == {p.pid for p in fleet.procs if p.alive()}
