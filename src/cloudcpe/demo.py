"""`cloudcpe demo`: a lab on this machine and a real service through it.

The demo runs the orchestrator (API + worker, SQLite in the data directory) in-process on a
loopback port and drives it only through the REST API, as an OSS/BSS would. The lab is built
by the Linux NFVI's lab module: a CPE device (its own namespace), a branch LAN host and an
internet host.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cloudcpe.config import Settings
from cloudcpe.nfvi.linux.lab import LabSite, TcpServer, cleanup_prefix, tcp_connect

LAB_NAME = "demo"
LAN_PREFIX = "192.168.10.0/24"
WAN_ADDRESS = "203.0.113.2/24"
WAN_GATEWAY = "203.0.113.1"
ALLOWED_PORT, DENIED_PORT = 80, 8080
POLICY = {
    "default_action": "deny",
    "rules": [
        {
            "action": "deny",
            "protocol": "tcp",
            "dst_ports": [DENIED_PORT],
            "description": "no alternate HTTP to the internet",
        },
        {"action": "allow", "src": LAN_PREFIX, "description": "the branch LAN may go out"},
    ],
}


def demo_settings() -> Settings:
    base = Settings()
    return Settings(data_dir=base.data_dir, database_url=f"sqlite:///{base.data_dir / 'demo.db'}")


@dataclass
class Timings:
    steps: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, console: Console, title: str) -> Iterator[None]:
        console.print(f"[bold cyan]>[/] {title}")
        start = time.perf_counter()
        yield
        self.steps.append((title, time.perf_counter() - start))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the demo owns Ctrl-C
        pass


@contextlib.contextmanager
def orchestrator(settings: Settings) -> Iterator[tuple[str, str]]:
    """`cloudcpe serve` in a thread on a free loopback port; yields (base URL, operator token)."""
    from cloudcpe.auth.service import create_token
    from cloudcpe.runtime import build
    from cloudcpe.store.db import unit_of_work

    runtime = build(settings)
    with unit_of_work(runtime.factory) as session:
        token = create_token(session, "demo-operator", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = _Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ccpe-demo-api", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(10)


def _call(api: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    resp = api.request(method, path, **kw)
    if resp.status_code >= 400:
        raise RuntimeError(f"{method} {path} answered {resp.status_code}: {resp.text}")
    return resp.json() if resp.content else None


def create_portal_admin(settings: Settings, name: str = "admin") -> str:
    """An operator admin for the portals, with a generated password (returned, printed)."""
    import secrets

    from cloudcpe.auth.audit import Actor, attach
    from cloudcpe.auth.principal import OPERATOR
    from cloudcpe.auth.users import create_first_admin
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work

    password = secrets.token_urlsafe(12)
    engine = make_engine(settings.effective_database_url, pooled=False)
    with unit_of_work(make_session_factory(engine)) as session:
        attach(session, Actor(OPERATOR, "cli", "cloudcpe demo"))
        create_first_admin(session, name, password)
    engine.dispose()
    return password


def run_demo(console: Console) -> int:
    settings = demo_settings()
    timings = Timings()
    teardown(console, quiet=True)  # a previous run's lab, so that running twice works
    lab = LabSite(LAB_NAME, lan_prefix=LAN_PREFIX, wan_address=WAN_ADDRESS, wan_gateway=WAN_GATEWAY)
    try:
        with timings.step(console, "build the lab: CPE device, branch LAN host, internet host"):
            lab.up()
        with (
            orchestrator(settings) as (url, token),
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api,
        ):
            console.print(
                f"  orchestrator API at {url}/docs (database {settings.data_dir}/demo.db)"
            )
            password = create_portal_admin(settings)
            console.print(
                f"  portal operator admin: [bold]admin[/] / password [bold]{password}[/] "
                f"(serve the demo database with CLOUDCPE_DATABASE_URL=sqlite:///"
                f"{settings.data_dir}/demo.db cloudcpe serve, then open /login)"
            )
            ns = _order_service(console, api, lab, timings)
            _wait(console, api, ns["op"], timings)
            results = _prove(console, lab, timings)
        _report(console, results, timings, lab, ns)
        return 0 if all(ok for _, ok, _ in results) else 1
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: removing what the demo made[/]")
        teardown(console, quiet=True)
        return 130
    except Exception:
        console.print("[red]the demo failed; removing what it made[/]")
        teardown(console, quiet=True)
        raise


def _order_service(console: Console, api: httpx.Client, lab: LabSite, t: Timings) -> dict[str, Any]:
    with t.step(console, "operator: tenant 'acme', site 'acme-hq', CPE device, catalog"):
        tenant = _call(api, "POST", "/api/v1/tenants", json={"name": "acme"})
        site = _call(
            api,
            "POST",
            "/api/v1/sites",
            json={"name": "acme-hq", "tenant_id": tenant["id"], "lan_prefix": LAN_PREFIX},
        )
        device = _call(
            api,
            "POST",
            "/api/v1/devices",
            json={
                "name": "acme-hq-cpe",
                "serial": "CPE-DEMO-0001",
                "site_id": site["id"],
                "wan_address": WAN_ADDRESS,
                "wan_gateway": WAN_GATEWAY,
                "netns": lab.host_netns,
                "max_functions": 4,
            },
        )
        console.print(
            f"  CPE device {device['name']!r} (host key {device['host_key']}): its functions "
            f"run in namespaces ccpe-{device['host_key']}-*"
        )
        nsd = _call(
            api,
            "POST",
            "/api/v1/ns_descriptors",
            json={
                "name": "secure-internet",
                "description": "firewall -> NAT to the internet",
                "chain": [
                    {"name": "fw", "function": "firewall", "params": POLICY},
                    {"name": "nat", "function": "nat"},
                ],
            },
        )
    with t.step(console, "order 'secure-internet' for acme-hq and instantiate it"):
        ns = _call(
            api,
            "POST",
            "/api/v1/ns_instances",
            json={"name": "acme-hq-internet", "site_id": site["id"], "nsd_id": nsd["id"]},
        )
        op = _call(api, "POST", f"/api/v1/ns_instances/{ns['id']}/instantiate")
    return {**ns, "op": op, "host_key": device["host_key"]}


def _wait(console: Console, api: httpx.Client, op: dict[str, Any], t: Timings) -> None:
    with (
        t.step(console, "wait for the LCM operation"),
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        task = progress.add_task("INSTANTIATE: PROCESSING")
        while True:
            op = _call(api, "GET", f"/api/v1/ns_lcm_op_occs/{op['id']}")
            step = op["current_step"] or "-"
            progress.update(
                task,
                description=f"INSTANTIATE: {op['operation_state']} "
                f"(step {step}, done {', '.join(op['steps_done']) or 'none'})",
            )
            if op["operation_state"] not in ("PROCESSING", "ROLLING_BACK"):
                break
            time.sleep(0.05)
    if op["operation_state"] != "COMPLETED":
        raise RuntimeError(f"instantiate ended {op['operation_state']}: {op['error']}")


def _prove(console: Console, lab: LabSite, t: Timings) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    with (
        t.step(console, "prove it with real traffic"),
        TcpServer(lab.inet_netns, ALLOWED_PORT) as web,
        TcpServer(lab.inet_netns, DENIED_PORT),
    ):
        allowed = tcp_connect(lab.lan_netns, WAN_GATEWAY, ALLOWED_PORT, timeout=3)
        results.append(
            (
                f"LAN host -> internet host TCP {ALLOWED_PORT} (HTTP) works",
                allowed.ok,
                f"connected in {allowed.seconds * 1000:.1f} ms"
                if allowed.ok
                else f"failed: {allowed.error}",
            )
        )
        denied = tcp_connect(lab.lan_netns, WAN_GATEWAY, DENIED_PORT, timeout=1)
        results.append(
            (
                f"LAN host -> internet host TCP {DENIED_PORT} is blocked by policy",
                not denied.ok,
                "no answer (dropped by the firewall)"
                if not denied.ok
                else "connected: NOT blocked",
            )
        )
        seen = sorted(set(web.peers))
        public = WAN_ADDRESS.split("/")[0]
        results.append(
            (
                "internet host sees the CPE's WAN address (NAT)",
                seen == [public],
                f"source seen: {', '.join(seen) or 'none'}",
            )
        )
    return results


def _report(
    console: Console,
    results: list[tuple[str, bool, str]],
    t: Timings,
    lab: LabSite,
    ns: dict[str, Any],
) -> None:
    table = Table(title="secure-internet at acme-hq: real traffic")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for check, ok, detail in results:
        table.add_row(check, "[green]PASS[/]" if ok else "[red]FAIL[/]", detail)
    console.print(table)
    times = Table(title="how long each step took")
    times.add_column("step")
    times.add_column("seconds", justify="right")
    for title, seconds in t.steps:
        times.add_row(title, f"{seconds:.3f}")
    console.print(times)
    console.print(
        "The lab stays up. Look inside:\n"
        f"  ip netns list | grep ccpe-{ns['host_key']}   # one namespace per function\n"
        "  ip netns exec <the first of them: the firewall> nft list ruleset\n"
        f"  ip netns exec {lab.lan_netns} ping -c1 {WAN_GATEWAY}\n"
        "Remove everything: cloudcpe demo --down"
    )


def teardown(console: Console, quiet: bool = False) -> None:
    """Remove the demo's functions (via the driver, from the demo database) and its lab."""
    from cloudcpe.agent.embedded import EmbeddedHosts
    from cloudcpe.inventory.models import NfviHost
    from cloudcpe.nfvi.model import HostDesiredState
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work

    settings = demo_settings()
    db = settings.data_dir / "demo.db"
    if db.exists():
        engine = make_engine(settings.effective_database_url, pooled=False)
        with contextlib.suppress(Exception), unit_of_work(make_session_factory(engine)) as s:
            hosts = EmbeddedHosts()
            for host in s.query(NfviHost).all():
                hosts.converge(host, HostDesiredState(host=host.host_key))
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
    removed = cleanup_prefix(f"ccpe-lab-{LAB_NAME}-")
    if not quiet:
        console.print(f"demo removed: functions, {len(removed)} lab namespaces, the demo database")
