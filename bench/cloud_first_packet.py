"""bench/cloud_first_packet: API call -> first packet for a cloud site (embedded hosts).

A real `serve` (HTTP on loopback, SQLite, LCM worker, Linux NFVI driver) and a lab of
namespaces: a provider network (router + internet server), a POP with one compute node on
its uplink segment, and a cloud site whose thin CPE hangs on the provider. Each run orders
firewall -> nat for the site and times, from POST .../instantiate:
- until the operation is COMPLETED (placement, pool address, keys, both hosts converged:
  the compute node first, then the thin CPE, whose tunnel handshakes at once);
- until a TCP connection from the site's LAN host to the internet server succeeds through
  the thin CPE, the WireGuard tunnel (wireguard-go) and the chain in the POP.
Prints every run and the medians; the last line is one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cloudcpe.config import Settings
from cloudcpe.demo import orchestrator
from cloudcpe.nfvi.driver import get_driver
from cloudcpe.nfvi.linux.lab import LabPop, LabProvider, LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.model import HostDesiredState

RUNS = 7
LAN = "192.168.10.0/24"
CHAIN = [
    {"name": "fw", "function": "firewall", "params": {"rules": [{"action": "allow", "src": LAN}]}},
    {"name": "nat", "function": "nat"},
]


def call(api: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    resp = api.request(method, path, **kw)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def wait_op(api: httpx.Client, op_id: str) -> None:
    while True:
        op = call(api, "GET", f"/api/v1/ns_lcm_op_occs/{op_id}")
        if op["operation_state"] == "COMPLETED":
            return
        if op["operation_state"] != "PROCESSING":
            raise RuntimeError(f"operation {op['operation_state']}: {op['error']}")
        time.sleep(0.002)


def first_packet(site: LabSite, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = tcp_connect(site.lan_netns, site.server, 80, timeout=0.5)
        if res.ok:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no packet through the tunnel and the chain: {res.error}")


def setup(api: httpx.Client, pop: LabPop, site: LabSite) -> tuple[str, str, list[str]]:
    tenant = call(api, "POST", "/api/v1/tenants", json={"name": "bench"})
    pop_row = call(
        api, "POST", "/api/v1/pops", json={"name": "bench-pop", "public_pool": str(pop.pool)}
    )
    node = call(
        api,
        "POST",
        f"/api/v1/pops/{pop_row['id']}/compute_nodes",
        json={
            "name": "cn1",
            "serial": "BENCH-CN1",
            "uplink_address": str(pop.node_address(1)),
            "uplink_gateway": str(pop.gateway),
            "netns": pop.node_netns(1),
        },
    )
    cloud = call(
        api,
        "POST",
        "/api/v1/sites",
        json={
            "name": "bench-branch",
            "tenant_id": tenant["id"],
            "kind": "cloud",
            "pop_id": pop_row["id"],
            "lan_prefix": LAN,
        },
    )
    device = call(
        api,
        "POST",
        "/api/v1/devices",
        json={
            "name": "bench-thin-cpe",
            "serial": "BENCH-CPE",
            "site_id": cloud["id"],
            "wan_address": str(site.wan_address),
            "wan_gateway": str(site.wan_gateway),
            "netns": site.host_netns,
        },
    )
    nsd = call(api, "POST", "/api/v1/ns_descriptors", json={"name": "fw-nat", "chain": CHAIN})
    return cloud["id"], nsd["id"], [node["host_key"], device["host_key"]]


def run(api: httpx.Client, site: LabSite, site_id: str, nsd_id: str, i: int) -> tuple[float, float]:
    ns = call(
        api,
        "POST",
        "/api/v1/ns_instances",
        json={"name": f"run{i}", "site_id": site_id, "nsd_id": nsd_id},
    )
    start = time.perf_counter()
    wait_op(api, call(api, "POST", f"/api/v1/ns_instances/{ns['id']}/instantiate")["id"])
    completed = time.perf_counter() - start
    first_packet(site)
    elapsed = time.perf_counter() - start
    wait_op(api, call(api, "POST", f"/api/v1/ns_instances/{ns['id']}/terminate")["id"])
    call(api, "DELETE", f"/api/v1/ns_instances/{ns['id']}")
    return completed, elapsed


def main() -> int:
    provider = LabProvider("cbench")
    pop = LabPop("cbench-pop", provider, nodes=1)
    site = LabSite(
        "cbench-s",
        lan_prefix=LAN,
        wan_address="203.0.113.10/29",
        wan_gateway="203.0.113.9",
        provider=provider,
    )
    for part in (site, pop, provider):
        part.down()
    provider.up()
    pop.up()
    site.up()
    done: list[float] = []
    packet: list[float] = []
    hosts: list[str] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ccpe-bench-") as tmp,
            orchestrator(Settings(data_dir=Path(tmp))) as (url, token),
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api,
            TcpServer(provider.netns, 80),
        ):
            site_id, nsd_id, hosts = setup(api, pop, site)
            for i in range(RUNS):
                completed, elapsed = run(api, site, site_id, nsd_id, i)
                done.append(completed)
                packet.append(elapsed)
                print(
                    f"run {i}: COMPLETED after {completed * 1000:7.1f} ms, "
                    f"first packet after {elapsed * 1000:7.1f} ms",
                    flush=True,
                )
    finally:
        driver = get_driver("linux")
        for host in hosts:  # whatever a failed run left: tunnels stopped, namespaces gone
            driver.apply(HostDesiredState(host=host))
        site.down()
        pop.down()
        provider.down()
    median_done, median_packet = statistics.median(done), statistics.median(packet)
    print(
        f"median, cloud site (thin CPE -> WireGuard -> firewall -> nat in the POP): "
        f"operation COMPLETED {median_done * 1000:.1f} ms, "
        f"first packet {median_packet * 1000:.1f} ms after the instantiate call"
    )
    print(
        json.dumps(
            {
                "bench": "cloud_first_packet",
                "completed_median_s": round(median_done, 4),
                "first_packet_median_s": round(median_packet, 4),
                "runs": RUNS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
