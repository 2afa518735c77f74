"""bench/fleet: one change pushed to a whole fleet of agent-managed sites.

N sites (default 10,000), each with one agent-managed CPE device running a firewall -> nat
chain (one NS instance, INSTANTIATED). Agents are simulated at the protocol level (no
kernel work): several processes, each running thousands of asyncio agents over httpx, each
long-polling `/agent/v1/desired`, "applying" a new version at once (an observation marking
every function of the document running) and reporting it with `/agent/v1/report`.

The orchestrator is real: `cloudcpe serve --role api` and `cloudcpe serve --role worker`
as processes (PostgreSQL: a throwaway cluster of scripts/postgres.sh), or one
`--role all` on SQLite (the small-scale test). Plain HTTP on 127.0.0.1 (no TLS).

Seeding (directly, in bulk, not through the API): one tenant, the published NS descriptor,
N sites, N devices (management "agent", activated, with an agent credential whose hash is
stored), N NS instances (INSTANTIATED) with their 2 VNF instances, and N host documents at
version 1 rendered by `cloudcpe.lcm.render.render_host`, with an observation of version 1
(every function running) as if the instantiation had completed.

The change: a new firewall rule list on every NS instance, applied the way the LCM's UPDATE
does it (`modify`: the instance's vnf_params and the VNF instance's params through
`effective_chain`; `render`: `render_document`, which bumps the host's version), in batched
transactions of `--batch` NS instances. Not one LcmOperation per site: the LCM worker runs
operations one at a time and each waits for its host's confirmation, so 10,000 UPDATE
operations would take a delay per site in series (see the README).

Measured per site: desired-to-acknowledged latency = the time the host's document
(version 2) was committed (wall clock taken right after the batch's commit) to the time
the API recorded the agent's report of version 2 (`host_document.reported_at`). Also the
orchestrator processes' CPU seconds and peak RSS (sum of VmHWM over its processes, from
/proc), and the agent requests per second handled (completed requests counted by the
simulated agents).

Prints its figures and, as its last line, one JSON object:
    {"bench": "fleet", "sites": ..., "p50_s": ..., "p99_s": ..., "peak_rss_mb": ...,
     "requests_per_s": ...}
Targets: p99 <= 5 s, orchestrator memory <= 2 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cloudcpe.cli"]
CHAIN = [
    {
        "name": "fw",
        "function": "firewall",
        "params": {"rules": [{"action": "deny", "protocol": "tcp", "dst_ports": [23]}]},
    },
    {"name": "nat", "function": "nat"},
]
NEW_RULES = [
    {"action": "deny", "protocol": "tcp", "dst_ports": [23]},
    {"action": "deny", "protocol": "tcp", "dst_ports": [445]},
    {"action": "allow"},
]


# -- seeding ------------------------------------------------------------------------------
@dataclass
class Fleet:
    agents: list[dict[str, str]] = field(default_factory=list)  # credential, host_key
    ns_ids: list[str] = field(default_factory=list)


def seed(url: str, sites: int) -> Fleet:
    """Bulk-insert the fleet (Core INSERTs of many rows per statement)."""
    from sqlalchemy import insert

    from cloudcpe.catalog.models import NsDescriptor
    from cloudcpe.inventory.enrolment import CREDENTIAL_PREFIX
    from cloudcpe.inventory.models import Device, NfviHost, Site, Tenant
    from cloudcpe.lcm.models import HostDocument, NsInstance, VnfInstance
    from cloudcpe.lcm.render import ChainFunction, PlacedChain, render_host
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work

    engine = make_engine(url)
    factory = make_session_factory(engine)
    fleet = Fleet()
    now = datetime.now(UTC)
    tenant_id, nsd_id = str(uuid.uuid4()), str(uuid.uuid4())
    with unit_of_work(factory) as s:
        s.execute(insert(Tenant), [{"id": tenant_id, "name": "fleet"}])
        s.execute(
            insert(NsDescriptor),
            [{"id": nsd_id, "tenant_id": None, "name": "secure-internet", "chain": CHAIN}],
        )
    step = 1000
    for lo in range(0, sites, step):
        rows: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("site", "host", "device", "ns", "vnf", "doc")
        }
        for i in range(lo, min(lo + step, sites)):
            site_id, host_id, ns_id = (str(uuid.uuid4()) for _ in range(3))
            host_key = f"f{i:07d}"
            credential = f"{CREDENTIAL_PREFIX}fleet{i:07d}{uuid.uuid4().hex}"
            lan = IPv4Network(f"10.{(i >> 8) & 255}.{i & 255}.0/24")
            rows["site"].append(
                {
                    "id": site_id,
                    "tenant_id": tenant_id,
                    "name": f"site{i}",
                    "kind": "on_premise",
                    "lan_prefix": str(lan),
                }
            )
            rows["host"].append(
                {
                    "id": host_id,
                    "role": "cpe",
                    "name": f"cpe{i}",
                    "serial": f"SN-FLEET-{i:07d}",
                    "host_key": host_key,
                    "management": "agent",
                    "activated_at": now,
                    "credential_hash": hashlib.sha256(credential.encode()).hexdigest(),
                    "last_seen_at": now,
                }
            )
            rows["device"].append(
                {
                    "id": host_id,
                    "tenant_id": tenant_id,
                    "site_id": site_id,
                    "wan_address": "203.0.113.2/24",
                    "wan_gateway": "203.0.113.1",
                }
            )
            rows["ns"].append(
                {
                    "id": ns_id,
                    "tenant_id": tenant_id,
                    "site_id": site_id,
                    "nsd_id": nsd_id,
                    "name": f"svc{i}",
                    "key": f"{i & 0xFFFFFF:06x}",
                    "ns_state": "INSTANTIATED",
                    "vnf_params": {},
                }
            )
            functions = []
            for pos, el in enumerate(CHAIN):
                vnf_id = str(uuid.uuid4())
                key = f"{i:07x}{pos}"
                rows["vnf"].append(
                    {
                        "id": vnf_id,
                        "ns_instance_id": ns_id,
                        "host_id": host_id,
                        "position": pos,
                        "name": el["name"],
                        "function": el["function"],
                        "key": key,
                        "params": el.get("params", {}),
                    }
                )
                functions.append(
                    ChainFunction(
                        owner=vnf_id, key=key, kind=str(el["function"]), params=el.get("params", {})
                    )
                )
            chain = PlacedChain(
                key=f"{i & 0xFFFFFF:06x}",
                lan_prefix=lan,
                wan_address=IPv4Interface("203.0.113.2/24"),
                wan_gateway=IPv4Address("203.0.113.1"),
                lan_port="ccpe-lan",
                wan_port="ccpe-wan",
                functions=functions,
            )
            desired = render_host(host_key, 1, [chain]).model_dump(mode="json")
            rows["doc"].append(
                {
                    "host_id": host_id,
                    "version": 1,
                    "desired": desired,
                    "updated_at": now,
                    "observed": _observed(desired),
                    "observed_version": 1,
                    "observed_at": now,
                    "reported_at": now,
                }
            )
            fleet.agents.append({"credential": credential, "host_key": host_key})
            fleet.ns_ids.append(ns_id)
        with unit_of_work(factory) as s:
            s.execute(insert(Site), rows["site"])
            s.execute(insert(NfviHost.__table__), rows["host"])
            s.execute(insert(Device.__table__), rows["device"])
            s.execute(insert(NsInstance), rows["ns"])
            s.execute(insert(VnfInstance), rows["vnf"])
            s.execute(insert(HostDocument), rows["doc"])
    engine.dispose()
    return fleet


def _observed(desired: dict[str, Any]) -> dict[str, Any]:
    """What a host that applied `desired` observes: every function running."""
    return {
        "host": desired["host"],
        "version": desired["version"],
        "functions": [
            {"owner": n["owner"], "namespace": n["name"], "state": "running", "reason": None}
            for n in desired.get("namespaces", [])
        ],
        "errors": [],
    }


# -- the change ---------------------------------------------------------------------------
def push_change(url: str, ns_ids: list[str], batch: int) -> dict[str, float]:
    """The LCM UPDATE's modify + render for every NS instance, `batch` per transaction.
    Returns host id -> wall-clock time its new version was committed."""
    from sqlalchemy import select

    from cloudcpe.catalog.models import NsDescriptor
    from cloudcpe.inventory.models import Device
    from cloudcpe.lcm.hosts import render_document
    from cloudcpe.lcm.models import NsInstance, VnfInstance
    from cloudcpe.lcm.service import effective_chain
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work

    engine = make_engine(url)
    factory = make_session_factory(engine)
    committed: dict[str, float] = {}
    for lo in range(0, len(ns_ids), batch):
        ids = ns_ids[lo : lo + batch]
        with unit_of_work(factory) as s:
            nsds = {d.id: d for d in s.scalars(select(NsDescriptor))}
            vnfs: dict[str, list[VnfInstance]] = {}
            for v in s.scalars(select(VnfInstance).where(VnfInstance.ns_instance_id.in_(ids))):
                vnfs.setdefault(v.ns_instance_id, []).append(v)
            hosts: set[str] = set()
            for ns in s.scalars(select(NsInstance).where(NsInstance.id.in_(ids))):
                ns.vnf_params = {**ns.vnf_params, "fw": {"rules": NEW_RULES}}
                chain = {el["name"]: el for el in effective_chain(nsds[ns.nsd_id], ns.vnf_params)}
                for v in vnfs[ns.id]:
                    v.params = chain[v.name]["params"]
                    hosts.add(v.host_id)
            s.flush()
            devices = s.scalars(select(Device).where(Device.id.in_(sorted(hosts)))).all()
            for device in devices:
                render_document(s, device)
        at = time.time()
        committed.update((h, at) for h in hosts)
    engine.dispose()
    return committed


def acknowledged(url: str, version: int) -> dict[str, float]:
    """host id -> when the API recorded its report of `version` (or newer)."""
    from sqlalchemy import select

    from cloudcpe.lcm.models import HostDocument
    from cloudcpe.store.base import as_utc
    from cloudcpe.store.db import make_engine, make_session_factory

    engine = make_engine(url, pooled=False)
    with make_session_factory(engine)() as s:
        rows = s.execute(
            select(HostDocument.host_id, HostDocument.reported_at).where(
                HostDocument.observed_version >= version
            )
        ).all()
    engine.dispose()
    return {h: as_utc(at).timestamp() for h, at in rows if at is not None}


# -- simulated agents (a child process runs thousands) ------------------------------------
async def _agents_main(spec: dict[str, Any]) -> None:
    base, wait = spec["url"], float(spec["wait"])
    agents: list[dict[str, str]] = spec["agents"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    done_at: list[float] = []  # completion time of every request
    errors = [0]
    synced = [0]
    gate = asyncio.Semaphore(int(spec.get("ramp", 200)))  # the first fetch: no stampede
    # idle connections are dropped before uvicorn's keep-alive timeout (5 s) drops them
    limits = httpx.Limits(
        max_connections=None, max_keepalive_connections=None, keepalive_expiry=3.0
    )
    timeout = httpx.Timeout(wait + 60.0, connect=60.0)

    async def agent(client: httpx.AsyncClient, me: dict[str, str]) -> None:
        headers = {"Authorization": f"Bearer {me['credential']}"}
        version = -1
        first = True
        while not stop.is_set():
            try:
                ctx = gate if first else contextlib.nullcontext()
                async with ctx:  # type: ignore[attr-defined]
                    r = await client.get(
                        "/agent/v1/desired",
                        params={"after": version, "wait": 0 if first else wait},
                        headers=headers,
                    )
                    done_at.append(time.time())
                    if r.status_code == 204:
                        continue
                    if r.status_code != 200:
                        raise RuntimeError(f"desired: {r.status_code}")
                    doc = r.json()
                    report = {
                        "observations": [
                            {
                                "observed_at": datetime.now(UTC).isoformat(),
                                "state": _observed(doc),
                            }
                        ]
                    }
                    r = await client.post("/agent/v1/report", json=report, headers=headers)
                    done_at.append(time.time())
                    if r.status_code != 200:
                        raise RuntimeError(f"report: {r.status_code}")
                version = doc["version"]
                if first:
                    first = False
                    synced[0] += 1
                    if synced[0] == len(agents):
                        print("synced", flush=True)
            except (httpx.HTTPError, RuntimeError, OSError) as exc:
                errors[0] += 1
                if errors[0] <= 5:
                    print(f"agent error: {exc!r}", file=sys.stderr, flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    # one client per few agents: httpcore's pool scans all its connections on every
    # request (a single client for thousands of agents spends its time there)
    group = 16
    clients = [
        httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout)
        for _ in range(0, len(agents), group)
    ]
    tasks = [asyncio.create_task(agent(clients[i // group], a)) for i, a in enumerate(agents)]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()
    Path(spec["out"]).write_text(json.dumps({"done_at": done_at, "errors": errors[0]}))


def agents_child(spec_path: str) -> int:
    _raise_nofile()
    asyncio.run(_agents_main(json.loads(Path(spec_path).read_text())))
    return 0


# -- processes and /proc ------------------------------------------------------------------
def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Orchestrator:
    def __init__(self, url: str, workdir: Path, roles: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CLOUDCPE_DATABASE_URL": url,
            "CLOUDCPE_DATA_DIR": str(workdir / "data"),
        }
        self.log = (workdir / "serve.log").open("ab")
        self.procs: list[subprocess.Popen[bytes]] = []
        for role in roles:
            args = ["--role", role, "--log-level", "warning"]
            if role != "worker":
                args += ["--host", "127.0.0.1", "--port", str(self.port)]
            self.procs.append(
                subprocess.Popen(
                    [*CLI, "serve", *args], env=env, stdout=self.log, stderr=subprocess.STDOUT
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/agent/v1/desired", timeout=2)
                break
            except httpx.TransportError:
                if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start (see {workdir}/serve.log)") from None
                time.sleep(0.1)

    def cpu_s(self) -> float:
        return sum(_proc_cpu_s(p.pid) for p in self.procs)

    def rss_mb(self, key: str = "VmRSS") -> float:
        return sum(_proc_kb(p.pid, key) for p in self.procs) / 1024

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.log.close()


class Agents:
    def __init__(
        self, url: str, fleet: Fleet, procs: int, wait: float, workdir: Path, ramp: int
    ) -> None:
        self.children: list[tuple[subprocess.Popen[str], Path]] = []
        n = len(fleet.agents)
        for k in range(procs):
            part = fleet.agents[k * n // procs : (k + 1) * n // procs]
            spec = workdir / f"agents{k}.json"
            out = workdir / f"agents{k}.out.json"
            spec.write_text(
                json.dumps(
                    {"url": url, "wait": wait, "agents": part, "out": str(out), "ramp": ramp}
                )
            )
            child = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--agents-child", str(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
            self.children.append((child, out))

    def wait_synced(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for child, _ in self.children:
            assert child.stdout is not None
            while True:
                line = child.stdout.readline()  # blocks; the child prints "synced" or dies
                if line.strip() == "synced":
                    break
                if not line or time.monotonic() > deadline:
                    raise RuntimeError("agents did not sync")

    def stop(self) -> tuple[list[float], int]:
        done: list[float] = []
        errors = 0
        for child, _ in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child, out in self.children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if out.exists():
                data = json.loads(out.read_text())
                done += data["done_at"]
                errors += data["errors"]
        return done, errors


@contextlib.contextmanager
def postgres(pg_dir: str) -> Any:
    env = {**os.environ, "CLOUDCPE_PG_DIR": pg_dir}
    script = str(ROOT / "scripts" / "postgres.sh")
    try:  # a fresh cluster: whatever an earlier run left in this directory is removed
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True)
        subprocess.run(["bash", script, "start"], env=env, check=True, capture_output=True)
        url = subprocess.run(
            ["bash", script, "url"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        yield url
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the run ------------------------------------------------------------------------------
def run_fleet(
    url: str,
    sites: int,
    *,
    roles: list[str],
    agent_procs: int = 2,
    wait: float = 30.0,
    batch: int = 500,
    ack_timeout: float = 180.0,
    ramp: int = 200,
    say: Any = print,
) -> dict[str, Any]:
    from cloudcpe.store.migrate import upgrade

    _raise_nofile()
    with tempfile.TemporaryDirectory(prefix="ccpe-fleet-") as tmp:
        workdir = Path(tmp)
        t0 = time.monotonic()
        upgrade(url)
        fleet = seed(url, sites)
        say(f"seeded {sites} sites x {len(CHAIN)} functions in {time.monotonic() - t0:.1f} s")
        orch = Orchestrator(url, workdir, roles)
        agents: Agents | None = None
        peak_sampled = 0.0
        try:
            t0 = time.monotonic()
            agents = Agents(orch.url, fleet, agent_procs, wait, workdir, ramp)
            agents.wait_synced(timeout=max(120.0, sites / 20))
            sync_s = time.monotonic() - t0
            say(f"{sites} agents fetched version 1 and reported in {sync_s:.1f} s")
            time.sleep(min(5.0, wait / 2))  # all long-polls held
            cpu0, push_t0 = orch.cpu_s(), time.time()
            committed = push_change(url, fleet.ns_ids, batch)
            push_s = time.time() - push_t0
            say(f"change committed for {len(committed)} hosts in {push_s:.1f} s (batch {batch})")
            deadline = time.monotonic() + ack_timeout
            acks: dict[str, float] = {}
            while time.monotonic() < deadline:
                peak_sampled = max(peak_sampled, orch.rss_mb())
                acks = acknowledged(url, 2)
                if len(acks) >= len(committed):
                    break
                time.sleep(0.5)
            window_end = max(acks.values(), default=time.time())
            cpu_push = orch.cpu_s() - cpu0
            cpu_total = orch.cpu_s()
            peak_rss = orch.rss_mb("VmHWM")
        finally:
            done_at, errors = agents.stop() if agents is not None else ([], 0)
            orch.close()
    latencies = [acks[h] - at for h, at in committed.items() if h in acks]
    missing = len(committed) - len(latencies)
    window = max(window_end - push_t0, 1e-6)
    in_window = sum(1 for t in done_at if push_t0 <= t <= window_end)
    result: dict[str, Any] = {
        "bench": "fleet",
        "sites": sites,
        "functions_per_site": len(CHAIN),
        "acknowledged": len(latencies),
        "unacknowledged": missing,
        "p50_s": round(_pct(latencies, 0.5), 3) if latencies else None,
        "p99_s": round(_pct(latencies, 0.99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "push_commit_s": round(push_s, 2),
        "change_to_last_ack_s": round(window, 2),
        "peak_rss_mb": round(peak_rss, 1),
        "peak_rss_sampled_sum_mb": round(peak_sampled, 1),
        "cpu_s_total": round(cpu_total, 1),
        "cpu_s_change": round(cpu_push, 1),
        "requests_per_s": round(in_window / window, 1),
        "requests_change": in_window,
        "sync_s": round(sync_s, 1),
        "sync_requests_per_s": round(2 * sites / sync_s, 1),
        "agent_errors": errors,
        "roles": roles,
        "database": url.split(":", 1)[0],
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--agent-procs", type=int, default=2, help="simulated agent processes")
    parser.add_argument("--wait", type=float, default=30.0, help="long-poll wait (s)")
    parser.add_argument("--batch", type=int, default=500, help="NS instances per transaction")
    parser.add_argument("--ack-timeout", type=float, default=180.0)
    parser.add_argument("--roles", default="api,worker", help="serve roles, comma separated")
    parser.add_argument("--database-url", help="use this database (default: own PostgreSQL)")
    parser.add_argument("--pg-dir", default=f"/tmp/ccpe-fleet-pg-{os.getpid()}")
    parser.add_argument("--agents-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agents_child:
        return agents_child(args.agents_child)
    # a SIGTERM (timeout(1), a CI runner) still cleans up: processes, PostgreSQL data
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    roles = args.roles.split(",")
    kw: dict[str, Any] = {
        "roles": roles,
        "agent_procs": args.agent_procs,
        "wait": args.wait,
        "batch": args.batch,
        "ack_timeout": args.ack_timeout,
    }
    print(f"fleet: {args.sites} sites x firewall -> nat, orchestrator roles {roles}")
    if args.database_url:
        result = run_fleet(args.database_url, args.sites, **kw)
    else:
        with postgres(args.pg_dir) as url:
            result = run_fleet(url, args.sites, **kw)
    print(
        f"desired-to-acknowledged over {result['acknowledged']} sites "
        f"({result['unacknowledged']} unacknowledged): p50 {result['p50_s']} s, "
        f"p99 {result['p99_s']} s, max {result['max_s']} s (target p99 <= 5 s)"
    )
    print(
        f"orchestrator: peak RSS {result['peak_rss_mb']} MB (target <= 2048), "
        f"CPU {result['cpu_s_total']} s in all, {result['cpu_s_change']} s during the change"
    )
    print(
        f"agent requests: {result['requests_per_s']}/s during the change, "
        f"{result['sync_requests_per_s']}/s at start-up sync ({result['agent_errors']} errors)"
    )
    print("Juniper CSO's largest published size: 6,000 sites x 2 VNFs")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
