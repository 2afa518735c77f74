"""Kernel test plumbing: skip with a reason where the kernel cannot be used, give each test
its own names, and prove afterwards that the test left nothing behind.

Kernel state is read back with `ip -j` / `nft -j` (an independent view), never with the
library under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cloudcpe.nfvi.linux.driver import LinuxDriver
from cloudcpe.nfvi.linux.lab import LabSite
from cloudcpe.nfvi.model import namespace_prefix

_NOT_READY: list[str | None] = []


def kernel_unavailable() -> str | None:
    """Why kernel tests cannot run here, or None. Checked once per session."""
    if _NOT_READY:
        return _NOT_READY[0]
    _NOT_READY.append(_probe())
    return _NOT_READY[0]


def _probe() -> str | None:
    if os.geteuid() != 0:
        return f"kernel tests need root (running as uid {os.geteuid()})"
    from cloudcpe.nfvi.linux import nft

    if not nft.available():
        return "kernel tests need libnftables.so.1 (install libnftables1)"
    probe = f"ccpe-probe-{secrets.token_hex(3)}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "del", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"kernel tests need network namespaces (`ip netns add` failed: {exc})"
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reason = kernel_unavailable() if _NOT_READY else None
    if reason:
        terminalreporter.write_line(f"kernel tests were skipped: {reason}", yellow=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kernel_items = [i for i in items if i.get_closest_marker("kernel")]
    if not kernel_items:
        return
    reason = kernel_unavailable()
    if reason is None:
        return
    for item in kernel_items:
        item.add_marker(pytest.mark.skip(reason=reason))


# ---------------------------------------------------------------- independent kernel view


def run(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=True
    ).stdout


def ip_json(netns: str | None, *argv: str) -> Any:
    prefix = ["ip", "-j"] if netns is None else ["ip", "-j", "-n", netns]
    out = run(*prefix, *argv)
    return json.loads(out) if out.strip() else []


def netns_names() -> set[str]:
    return {n["name"] for n in ip_json(None, "netns", "list")}


def link_names(netns: str | None) -> set[str]:
    return {link["ifname"] for link in ip_json(netns, "link", "show")}


def nft_ruleset(netns: str) -> list[dict[str, Any]]:
    out = run("ip", "netns", "exec", netns, "nft", "-j", "list", "ruleset")
    return [o for o in json.loads(out)["nftables"] if "metainfo" not in o]


# ---------------------------------------------------------------- per-test scope


def wireguard_processes() -> dict[int, str]:
    """Running wireguard-go processes (zombies excluded): pid -> interface name, from `ps`."""
    out = subprocess.run(
        ["ps", "-C", "wireguard-go", "-o", "pid=,stat=,args="],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = {}
    for line in out.splitlines():
        pid, stat, *args = line.split()
        if not stat.startswith("Z") and args:
            found[int(pid)] = args[-1]
    return found


WIREGUARD_RUN_DIR = "/var/run/wireguard"


@dataclass
class KernelScope:
    """The names one test may create, and the check that they are all gone afterwards."""

    host: str
    lab_name: str
    root_links_before: set[str] = field(default_factory=set)
    extra_hosts: list[str] = field(default_factory=list)

    def new_host(self) -> str:
        """Another host key for this test (its namespaces and tunnels are checked too)."""
        key = f"t{secrets.token_hex(3)}"
        self.extra_hosts.append(key)
        return key

    @property
    def hosts(self) -> list[str]:
        return [self.host, *self.extra_hosts]

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (*(namespace_prefix(h) for h in self.hosts), f"ccpe-lab-{self.lab_name}-")

    def tunnel_name(self, host: str, n: int = 0) -> str:
        return f"ccpe{host}-{n}"

    def our_tunnel(self, ifname: str) -> bool:
        return any(ifname.startswith(f"ccpe{h}-") for h in self.hosts)

    def tunnel_processes(self) -> dict[int, str]:
        return {p: n for p, n in wireguard_processes().items() if self.our_tunnel(n)}

    def tunnel_sockets(self) -> list[str]:
        try:
            names = os.listdir(WIREGUARD_RUN_DIR)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if self.our_tunnel(n))

    def ns(self, function: str) -> str:
        """The namespace name of a function of this test's host."""
        return namespace_prefix(self.host) + function

    def ours(self, names: set[str]) -> set[str]:
        return {n for n in names if n.startswith(self.prefixes)}

    def remove_everything(self) -> None:
        for pid in self.tunnel_processes():  # only the processes of this test's tunnels
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for name in self.ours(netns_names()):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        for sock in self.tunnel_sockets():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(WIREGUARD_RUN_DIR, sock))

    def tunnel_leftovers(self) -> list[str]:
        left = [f"process {n} (pid {p})" for p, n in sorted(self.tunnel_processes().items())]
        return left + [f"socket {WIREGUARD_RUN_DIR}/{n}" for n in self.tunnel_sockets()]

    def leftovers(self) -> list[str]:
        left = [f"namespace {n}" for n in sorted(self.ours(netns_names()))]
        new_links = {n for n in link_names(None) if n.startswith("ccpe")} - self.root_links_before
        left += [f"link {n} in the root namespace" for n in sorted(new_links)]
        return left


@pytest.fixture
def kernel_scope() -> Iterator[KernelScope]:
    scope = KernelScope(host=f"t{secrets.token_hex(3)}", lab_name=f"l{secrets.token_hex(3)}")
    scope.root_links_before = link_names(None)
    try:
        yield scope
    finally:
        # tunnels must be gone by now; namespaces are removed for the test, as before
        left = scope.tunnel_leftovers()
        scope.remove_everything()
        left += scope.leftovers()
        assert not left, f"test left kernel objects behind: {left}"


@pytest.fixture
def host_key(kernel_scope: KernelScope) -> str:
    return kernel_scope.host


@pytest.fixture
def lab(kernel_scope: KernelScope) -> Iterator[LabSite]:
    site = LabSite(kernel_scope.lab_name)
    try:
        site.up()
        yield site
    finally:
        site.down()


@pytest.fixture
def driver(lab: LabSite) -> Iterator[LinuxDriver]:
    linux = LinuxDriver(host_netns=lab.host_netns)
    yield linux
    linux.close()
