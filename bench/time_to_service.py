"""bench/time_to_service: API call -> first packet through a 3-function chain.

Side by side in one run, alternating:
- cloudcpe: POST /api/v1/ns_instances/{id}/instantiate on a real `serve` (HTTP on loopback,
  SQLite, LCM worker, Linux NFVI driver) for firewall -> nat -> router on a lab CPE device,
  until a TCP connection from the LAN host to the internet host succeeds;
- baseline: a plain bash script of `ip` / `nft` / `sysctl` commands creating the same kernel
  objects (rendered from the same desired state), until the same TCP connection succeeds.
Prints both medians and their ratio; the last line is one JSON object.
Target: ratio <= 1.5 and median under 1 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cloudcpe.config import Settings
from cloudcpe.demo import orchestrator
from cloudcpe.lcm.render import ChainFunction, PlacedChain, render_host
from cloudcpe.nfvi.driver import get_driver
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, tcp_connect
from cloudcpe.nfvi.linux.script import render_script
from cloudcpe.nfvi.model import HostDesiredState

RUNS = 7
LAN, WAN, GW = "192.168.10.0/24", "203.0.113.2/24", "203.0.113.1"
CHAIN = [
    {"name": "fw", "function": "firewall", "params": {"rules": [{"action": "allow", "src": LAN}]}},
    {"name": "nat", "function": "nat"},
    {
        "name": "r",
        "function": "router",
        "params": {"routes": [{"prefix": "198.51.100.0/24", "via": GW}]},
    },
]


def first_packet(lab: LabSite, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        res = tcp_connect(lab.lan_netns, GW, 80, timeout=0.5)
        if res.ok:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no packet through the chain: {res.error}")


def reset_neighbours(lab: LabSite) -> None:
    """Start each run, ours and the baseline's, with empty neighbour caches on the LAN and
    internet hosts: every run creates new interfaces with new MAC addresses."""
    for netns in (lab.lan_netns, lab.inet_netns):
        subprocess.run(["ip", "-n", netns, "neigh", "flush", "all"], check=True)


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


def setup_catalog(api: httpx.Client, lab: LabSite) -> tuple[str, str]:
    tenant = call(api, "POST", "/api/v1/tenants", json={"name": "bench"})
    site = call(
        api,
        "POST",
        "/api/v1/sites",
        json={"name": "bench-hq", "tenant_id": tenant["id"], "lan_prefix": LAN},
    )
    call(
        api,
        "POST",
        "/api/v1/devices",
        json={
            "name": "bench-cpe",
            "serial": "BENCH-1",
            "site_id": site["id"],
            "wan_address": WAN,
            "wan_gateway": GW,
            "netns": lab.host_netns,
        },
    )
    nsd = call(
        api, "POST", "/api/v1/ns_descriptors", json={"name": "fw-nat-router", "chain": CHAIN}
    )
    return site["id"], nsd["id"]


def run_cloudcpe(api: httpx.Client, lab: LabSite, site_id: str, nsd_id: str, i: int) -> float:
    ns = call(
        api,
        "POST",
        "/api/v1/ns_instances",
        json={"name": f"run{i}", "site_id": site_id, "nsd_id": nsd_id},
    )
    start = time.perf_counter()
    op = call(api, "POST", f"/api/v1/ns_instances/{ns['id']}/instantiate")
    wait_op(api, op["id"])
    first_packet(lab)
    elapsed = time.perf_counter() - start
    wait_op(api, call(api, "POST", f"/api/v1/ns_instances/{ns['id']}/terminate")["id"])
    call(api, "DELETE", f"/api/v1/ns_instances/{ns['id']}")
    return elapsed


def baseline_document(host: str) -> HostDesiredState:
    from ipaddress import IPv4Address, IPv4Interface, IPv4Network

    chain = PlacedChain(
        key="b00b00",
        lan_prefix=IPv4Network(LAN),
        wan_address=IPv4Interface(WAN),
        wan_gateway=IPv4Address(GW),
        lan_port="ccpe-lan",
        wan_port="ccpe-wan",
        functions=[
            ChainFunction(
                owner=f"b{i}",
                key=f"b{i:07d}",
                kind=el["function"],
                params=dict(el.get("params", {})),
            )  # type: ignore[call-overload]
            for i, el in enumerate(CHAIN)
        ],
    )
    return render_host(host, 1, [chain])


def run_baseline(lab: LabSite, script: Path, host: str) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", str(script)], check=True, capture_output=True)
    first_packet(lab)
    elapsed = time.perf_counter() - start
    get_driver("linux", host_netns=lab.host_netns).apply(HostDesiredState(host=host))
    return elapsed


def main() -> int:
    lab = LabSite("bench", lan_prefix=LAN, wan_address=WAN, wan_gateway=GW)
    lab.down()
    lab.up()
    ours: list[float] = []
    base: list[float] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ccpe-bench-") as tmp,
            orchestrator(Settings(data_dir=Path(tmp))) as (url, token),
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api,
            TcpServer(lab.inet_netns, 80),
        ):
            site_id, nsd_id = setup_catalog(api, lab)
            host = "bbbbbbbb"
            script = Path(tmp) / "baseline.sh"
            script.write_text(render_script(baseline_document(host), lab.host_netns))
            for i in range(RUNS):
                reset_neighbours(lab)
                ours.append(run_cloudcpe(api, lab, site_id, nsd_id, i))
                reset_neighbours(lab)
                base.append(run_baseline(lab, script, host))
                print(
                    f"run {i}: cloudcpe {ours[-1] * 1000:7.1f} ms   "
                    f"ip/nft script {base[-1] * 1000:7.1f} ms",
                    flush=True,
                )
    finally:
        lab.down()
    median, baseline = statistics.median(ours), statistics.median(base)
    ratio = median / baseline
    print(
        f"median time to service, 3-function chain: cloudcpe {median * 1000:.1f} ms, "
        f"plain ip/nft script {baseline * 1000:.1f} ms, ratio {ratio:.2f} "
        f"(target <= 1.5 and < 1 s)"
    )
    print(
        json.dumps(
            {
                "bench": "time_to_service",
                "median_s": round(median, 4),
                "baseline_s": round(baseline, 4),
                "ratio": round(ratio, 3),
                "runs": RUNS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
