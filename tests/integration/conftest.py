"""Kernel test plumbing: skip with a reason where the kernel cannot be used, give each test
its own names, and prove afterwards that the test left nothing behind.

Kernel state is read back with `ip -j` / `nft -j` (an independent view), never with the
library under test.
"""

from __future__ import annotations

import json
import os
import secrets
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


@dataclass
class KernelScope:
    """The names one test may create, and the check that they are all gone afterwards."""

    host: str
    lab_name: str
    root_links_before: set[str] = field(default_factory=set)

    @property
    def prefixes(self) -> tuple[str, str]:
        return namespace_prefix(self.host), f"ccpe-lab-{self.lab_name}-"

    def ns(self, function: str) -> str:
        """The namespace name of a function of this test's host."""
        return namespace_prefix(self.host) + function

    def ours(self, names: set[str]) -> set[str]:
        return {n for n in names if n.startswith(self.prefixes)}

    def remove_everything(self) -> None:
        for name in self.ours(netns_names()):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)

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
        scope.remove_everything()
        left = scope.leftovers()
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
