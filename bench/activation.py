"""bench/activation: zero touch, from agent start to the first packet through the chain.

The provider has registered an agent-managed CPE device and ordered a firewall -> nat
service for its on-premise site (the instantiate waits for the device). The device powers
up: `cloudcpe agent` starts in the device's namespace knowing only the orchestrator's URL
(HTTPS, lab CA), its serial and its activation code. Measured: from starting that process
to the first TCP connection from the site's LAN host through the chain to the internet
host. Everything is real: `serve` and the agent are processes in their own namespaces,
joined by a management network; the chain is built by the agent with the Linux driver.

Prints each run, the median, and as its last line one JSON object:
    {"bench": "activation", "on_premise_s": <median seconds>}
Target: under 10 s.

Cloud sites (thin CPE + chain on a POP compute node, WireGuard between them) arrive with
the POP work: `cloud_site_seconds` is the hook; when it returns a figure, the JSON object
gains "cloud_s".
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cloudcpe.auth.pki import init_ca
from cloudcpe.nfvi.linux.lab import (
    LabSite,
    ManagementWan,
    NetnsTransport,
    TcpServer,
    cleanup_prefix,
    spawn_in_netns,
    tcp_connect,
)
from cloudcpe.nfvi.model import namespace_prefix

RUNS = 3
PORT = 8443
CHAIN = [
    {
        "name": "fw",
        "function": "firewall",
        "params": {
            "rules": [
                {"action": "deny", "protocol": "tcp", "dst_ports": [8080]},
                {"action": "allow"},
            ]
        },
    },
    {"name": "nat", "function": "nat"},
]
CLI = [sys.executable, "-m", "cloudcpe.cli"]


class Orchestrator:
    """`cloudcpe serve` (role all, TLS, SQLite) in the management network's namespace."""

    def __init__(self, workdir: Path, mgmt: ManagementWan) -> None:
        self.workdir = workdir
        self.mgmt = mgmt
        self.pki = workdir / "pki"
        init_ca(self.pki, [str(mgmt.orch_address)])
        self.env = {
            **os.environ,
            "CLOUDCPE_DATA_DIR": str(workdir / "data"),
            "CLOUDCPE_AGENT_CONFIRM_SECONDS": "60",
        }
        self.env.pop("CLOUDCPE_DATABASE_URL", None)
        token = subprocess.run(
            [*CLI, "token", "create", "bench"], env=self.env, capture_output=True, text=True
        )
        if token.returncode != 0:
            raise RuntimeError(token.stderr)
        self.log = (workdir / "serve.log").open("ab")
        self.proc = spawn_in_netns(
            mgmt.orch_netns,
            [
                *CLI,
                "serve",
                "--host",
                "0.0.0.0",
                "--port",
                str(PORT),
                "--log-level",
                "warning",
                "--tls-cert",
                str(self.pki / "server.pem"),
                "--tls-key",
                str(self.pki / "server.key"),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"https://{mgmt.orch_address}:{PORT}"
        self.api = httpx.Client(
            base_url=self.url + "/api/v1",
            transport=NetnsTransport(
                mgmt.orch_netns, verify=ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
            ),
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
            timeout=30,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api.get("/tenants")
                break
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not start") from None
                time.sleep(0.05)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.api.request(method, path, **kw)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def close(self) -> None:
        self.api.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def on_premise_run(
    orch: Orchestrator, mgmt: ManagementWan, tenant_id: str, nsd_id: str, i: int, tag: str
) -> float:
    lan = f"192.168.{20 + i}.0/24"
    lab = LabSite(f"{tag}b{i}", lan_prefix=lan)
    agent: subprocess.Popen[bytes] | None = None
    host_key = None
    try:
        lab.up()
        mgmt.attach(lab.host_netns, i + 1)
        site = orch.call(
            "POST", "/sites", json={"name": f"b{i}", "tenant_id": tenant_id, "lan_prefix": lan}
        )
        device = orch.call(
            "POST",
            "/devices",
            json={
                "name": f"cpe{i}",
                "serial": f"SN-BENCH-{tag}-{i}",
                "site_id": site["id"],
                "wan_address": "203.0.113.2/24",
                "wan_gateway": "203.0.113.1",
                "management": "agent",
            },
        )
        host_key = device["host_key"]
        ns = orch.call(
            "POST",
            "/ns_instances",
            json={"name": f"svc{i}", "site_id": site["id"], "nsd_id": nsd_id},
        )
        op = orch.call("POST", f"/ns_instances/{ns['id']}/instantiate")
        while orch.call("GET", f"/ns_lcm_op_occs/{op['id']}")["current_step"] != "apply":
            time.sleep(0.02)  # ordered and rendered: waiting for the device
        env = {**orch.env, "CLOUDCPE_ACTIVATION_CODE": device["activation_code"]}
        with TcpServer(lab.inet_netns, 80):
            log = (orch.workdir / f"agent{i}.log").open("ab")
            start = time.monotonic()
            agent = spawn_in_netns(
                lab.host_netns,
                [
                    *CLI,
                    "agent",
                    "--url",
                    orch.url,
                    "--serial",
                    device["serial"],
                    "--state-dir",
                    str(orch.workdir / f"agent{i}"),
                    "--ca-file",
                    str(orch.pki / "ca.pem"),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            while not tcp_connect(lab.lan_netns, lab.server, 80, timeout=0.2).ok:
                if agent.poll() is not None or time.monotonic() - start > 60:
                    raise RuntimeError(f"no packet through the chain (see {orch.workdir})")
            took = time.monotonic() - start
        state = orch.call("GET", f"/ns_lcm_op_occs/{op['id']}")["operation_state"]
        print(f"  run {i + 1}: first packet {took:.2f} s after agent start (operation {state})")
        return took
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        if host_key:
            cleanup_prefix(namespace_prefix(host_key))
        lab.down()


def cloud_site_seconds() -> float | None:
    """Hook for the POP work: zero touch to the first packet through a cloud site's chain
    (a thin CPE activating, its chain on a POP compute node, the WireGuard tunnel between
    them). Returns None until cloud sites exist; the JSON line then gains "cloud_s"."""
    return None


def main() -> int:
    if os.geteuid() != 0:
        print("bench/activation needs root (network namespaces)", file=sys.stderr)
        return 2
    tag = secrets.token_hex(2)
    mgmt = ManagementWan(f"a{tag}", subnet="10.253.0.0/24")
    with tempfile.TemporaryDirectory(prefix="ccpe-bench-") as tmp:
        orch = None
        try:
            mgmt.up()
            orch = Orchestrator(Path(tmp), mgmt)
            tenant = orch.call("POST", "/tenants", json={"name": f"bench{tag}"})
            nsd = orch.call(
                "POST", "/ns_descriptors", json={"name": "secure-internet", "chain": CHAIN}
            )
            print("zero touch, on-premise site: agent start -> first packet through fw -> nat")
            runs = [
                on_premise_run(orch, mgmt, tenant["id"], nsd["id"], i, tag) for i in range(RUNS)
            ]
        finally:
            if orch is not None:
                orch.close()
            mgmt.down()
    median = statistics.median(runs)
    print(f"on-premise: median {median:.2f} s over {RUNS} runs (target < 10 s)")
    result: dict[str, Any] = {"bench": "activation", "on_premise_s": round(median, 3)}
    cloud = cloud_site_seconds()
    if cloud is not None:
        result["cloud_s"] = round(cloud, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
