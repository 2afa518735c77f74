"""A fleet on this machine: orchestrator processes and host agents, each a real process in
its own network namespace, joined by a management network with real addresses.

    ccpe-lab-<m>-orch       `cloudcpe serve` processes (agent-facing API on :8443, operator
                            API on :8444, LCM workers), TLS from a lab CA; 10.254.0.1
    ccpe-lab-<site>-cpe     a CPE device: `cloudcpe agent` (started with `nsenter --net`,
                            so the namespaces it creates are everyone's), 10.254.0.1x
    ccpe-lab-<site>-lan/-inet   the site's LAN host and the internet beyond its WAN

Everything is named with the `ccpe` prefix and removed by `close()`, also after a failure.
Process logs go to files under the fleet's directory; failures quote their tails.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from cloudcpe.auth.pki import init_ca
from cloudcpe.nfvi.linux.lab import (
    LabSite,
    ManagementWan,
    NetnsTransport,
    cleanup_prefix,
    spawn_in_netns,
    tcp_connect,
)
from cloudcpe.nfvi.model import namespace_prefix

PYTHON = [sys.executable, "-m", "cloudcpe.cli"]
AGENTS_PORT, OPERATOR_PORT = 8443, 8444
LEASE_SECONDS = 3


@dataclass
class Proc:
    name: str
    argv: list[str]
    netns: str
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        out = self.log.open("ab")
        try:
            self.popen = spawn_in_netns(
                self.netns, self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, and reap."""
        if self.popen is not None:
            if self.popen.poll() is None:
                self.popen.kill()
            self.popen.wait(10)

    def stop(self, timeout: float = 5) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_exit(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])


@dataclass
class Site:
    index: int
    lab: LabSite
    device: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    ns: dict[str, Any] = field(default_factory=dict)
    agent: Proc | None = None

    @property
    def host_key(self) -> str:
        return str(self.device["host_key"])

    def function_namespaces(self) -> set[str]:
        from tests.integration.conftest import netns_names

        return {n for n in netns_names() if n.startswith(namespace_prefix(self.host_key))}


class Fleet:
    def __init__(self, directory: Path, database_url: str, workers: int) -> None:
        self.dir = directory
        self.database_url = database_url
        self.tag = secrets.token_hex(2)
        self.mgmt = ManagementWan(f"m{self.tag}")
        self.procs: list[Proc] = []
        self.sites: list[Site] = []
        self.host_keys: list[str] = []
        self.workers: list[Proc] = []
        self.pki = self.dir / "pki"
        self.env = {
            **os.environ,
            "CLOUDCPE_DATA_DIR": str(self.dir / "data"),
            "CLOUDCPE_DATABASE_URL": database_url,
            "CLOUDCPE_LEASE_SECONDS": str(LEASE_SECONDS),
            "CLOUDCPE_AGENT_CONFIRM_SECONDS": "30",
        }
        self.env.pop("CLOUDCPE_ACTIVATION_CODE", None)
        self.n_workers = workers
        self._api: httpx.Client | None = None
        self.token = ""

    # ------------------------------------------------------------ orchestrator

    @property
    def agents_url(self) -> str:
        return f"https://{self.mgmt.orch_address}:{AGENTS_PORT}"

    def up(self) -> None:
        self.mgmt.up()
        init_ca(self.pki, [str(self.mgmt.orch_address), "127.0.0.1"])
        self.token = _operator_token(self.database_url)
        self.agents_api = self.serve("api-agents", "api", AGENTS_PORT)
        self.operator_api = self.serve("api-ops", "api", OPERATOR_PORT)
        self.workers = [self.serve(f"worker{i}", "worker") for i in range(self.n_workers)]
        self.wait_http(self.agents_api, AGENTS_PORT)
        self.wait_http(self.operator_api, OPERATOR_PORT)

    def serve(self, name: str, role: str, port: int | None = None) -> Proc:
        argv = [*PYTHON, "serve", "--role", role, "--log-level", "info"]
        if port is not None:
            argv += ["--host", "0.0.0.0", "--port", str(port)]
            argv += ["--tls-cert", str(self.pki / "server.pem")]
            argv += ["--tls-key", str(self.pki / "server.key")]
        proc = Proc(name, argv, self.mgmt.orch_netns, self.dir / f"{name}.log", self.env)
        self.procs.append(proc.start())
        return proc

    def restart(self, proc: Proc) -> Proc:
        proc.start()
        return proc

    def wait_http(self, proc: Proc, port: int, timeout: float = 30) -> None:
        with self.client(port) as c:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    c.get("/docs", timeout=1)
                    return
                except httpx.TransportError:
                    assert proc.alive(), proc.tail()
                    assert time.monotonic() < deadline, f"{proc.name} did not start\n{proc.tail()}"
                    time.sleep(0.05)

    def client(self, port: int = OPERATOR_PORT) -> httpx.Client:
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        return httpx.Client(
            base_url=f"https://{self.mgmt.orch_address}:{port}",
            transport=NetnsTransport(self.mgmt.orch_netns, verify=ctx),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    @property
    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = self.client(OPERATOR_PORT)
        return self._api

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = self.api.request(method, f"/api/v1{path}", **kw)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def wait_operation(self, op_id: str, timeout: float = 40) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            op: dict[str, Any] = self.call("GET", f"/ns_lcm_op_occs/{op_id}")
            if op["operation_state"] not in ("PROCESSING", "ROLLING_BACK"):
                return op
            assert time.monotonic() < deadline, f"operation still open: {op}\n{self.tails()}"
            time.sleep(0.05)

    # ------------------------------------------------------------ sites and agents

    def add_site(self, tenant_id: str, nsd_id: str) -> Site:
        i = len(self.sites) + 1
        lan = f"192.168.{10 + i}.0/24"
        site = Site(i, LabSite(f"{self.tag}s{i}", lan_prefix=lan))
        self.sites.append(site)
        site.lab.up()
        self.mgmt.attach(site.lab.host_netns, i)
        got = self.call(
            "POST",
            "/sites",
            201,
            json={"name": f"site{i}", "tenant_id": tenant_id, "lan_prefix": lan},
        )
        site.device = self.register(f"cpe{i}", got["id"])
        self.host_keys.append(site.host_key)
        site.code = site.device["activation_code"]
        site.ns = self.call(
            "POST",
            "/ns_instances",
            201,
            json={"name": f"svc{i}", "site_id": got["id"], "nsd_id": nsd_id},
        )
        return site

    def register(self, name: str, site_id: str) -> dict[str, Any]:
        device: dict[str, Any] = self.call(
            "POST",
            "/devices",
            201,
            json={
                "name": name,
                "serial": f"SN-{self.tag}-{name}",
                "site_id": site_id,
                "wan_address": "203.0.113.2/24",
                "wan_gateway": "203.0.113.1",
                "management": "agent",
            },
        )
        return device

    def agent(self, name: str, netns: str, serial: str, code: str | None, state_dir: Path) -> Proc:
        argv = [
            *PYTHON,
            "agent",
            "--url", self.agents_url,
            "--serial", serial,
            "--state-dir", str(state_dir),
            "--ca-file", str(self.pki / "ca.pem"),
            "--poll-wait", "20",
            "--repair-interval", "2",
            "--heartbeat-interval", "1",
            "--max-backoff", "1",
        ]  # fmt: skip
        env = {**self.env}
        if code is not None:
            env["CLOUDCPE_ACTIVATION_CODE"] = code  # not on the command line
        proc = Proc(name, argv, netns, self.dir / f"{name}.log", env)
        self.procs.append(proc.start())
        return proc

    def start_agent(self, site: Site, with_code: bool = True) -> Proc:
        site.agent = self.agent(
            f"agent{site.index}",
            site.lab.host_netns,
            site.device["serial"],
            site.code if with_code else None,
            self.dir / f"agent{site.index}",
        )
        return site.agent

    # ------------------------------------------------------------ probes

    def passes(self, site: Site, port: int = 80, timeout: float = 1.0) -> bool:
        return tcp_connect(site.lab.lan_netns, site.lab.server, port, timeout=timeout).ok

    def until(self, check: Callable[[], bool], timeout: float = 20, what: str = "") -> float:
        """Wait for `check`; returns how long it took."""
        start = time.monotonic()
        while not check():
            assert time.monotonic() - start < timeout, f"not in {timeout} s: {what}\n{self.tails()}"
            time.sleep(0.05)
        return time.monotonic() - start

    def tails(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    # ------------------------------------------------------------ teardown

    def close(self) -> list[str]:
        """Stop every process, remove every namespace; returns what could not be removed."""
        if self._api is not None:
            self._api.close()
        for proc in self.procs:
            proc.stop(timeout=3)
        left = [f"process {p.name} ({p.pid})" for p in self.procs if p.alive()]
        for key in self.host_keys:
            cleanup_prefix(namespace_prefix(key))
        for site in self.sites:
            site.lab.down()
        self.mgmt.down()
        from tests.integration.conftest import netns_names

        ours = [f"ccpe-lab-{self.mgmt.name}-", *(f"ccpe-lab-{s.lab.name}-" for s in self.sites)]
        ours += [namespace_prefix(k) for k in self.host_keys]
        left += [f"namespace {n}" for n in sorted(netns_names()) if n.startswith(tuple(ours))]
        return left


def _operator_token(url: str) -> str:
    from cloudcpe.auth.service import create_token
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work

    engine = make_engine(url, pooled=False)
    try:
        with unit_of_work(make_session_factory(engine)) as s:
            return create_token(s, "fleet-operator", None)
    finally:
        engine.dispose()


def host_row(url: str, host_id: str) -> dict[str, Any]:
    """A host's activation columns, read straight from the database."""
    from cloudcpe.inventory.models import NfviHost
    from cloudcpe.store.db import make_engine, make_session_factory

    engine = make_engine(url, pooled=False)
    try:
        with make_session_factory(engine)() as s:
            host = s.scalars(select(NfviHost).where(NfviHost.id == host_id)).one()
            return {
                "activated_at": host.activated_at,
                "credential_hash": host.credential_hash,
                "activation_code_hash": host.activation_code_hash,
            }
    finally:
        engine.dispose()


def operation_row(url: str, op_id: str) -> dict[str, Any]:
    from cloudcpe.lcm.models import LcmOperation
    from cloudcpe.store.db import make_engine, make_session_factory

    engine = make_engine(url, pooled=False)
    try:
        with make_session_factory(engine)() as s:
            op = s.get_one(LcmOperation, op_id)
            return {
                "state": op.operation_state,
                "step": op.current_step,
                "owner": op.lease_owner,
                "steps_done": list(op.steps_done),
            }
    finally:
        engine.dispose()
