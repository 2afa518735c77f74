"""Tunnels on the real kernel: wireguard-go processes started, configured, re-configured and
collected by the Linux driver, proved with real packets and read back with `ip -j`, `ps` and
the process's own control socket (not with the driver).

Two hosts: an "edge" whose tunnel runs in one namespace, and a "pop" whose tunnel process
runs in an underlay namespace while its interface lives in a function namespace. The
underlay between them is a plain veth made by the test (not ccpe-named: not the driver's).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cloudcpe.nfvi.linux.driver import LinuxDriver
from cloudcpe.nfvi.linux.lab import ping
from cloudcpe.nfvi.linux.script import render_script
from cloudcpe.nfvi.model import (
    FunctionNamespace,
    HostDesiredState,
    ObservedState,
    Route,
    Tunnel,
    TunnelEndpoint,
    TunnelPeer,
)
from tests.integration.conftest import KernelScope, ip_json, run, wireguard_processes

pytestmark = pytest.mark.kernel

UNDERLAY_EDGE, UNDERLAY_POP = "10.99.0.1", "10.99.0.2"
EDGE_PORT, POP_PORT = 51820, 51821


def keypair() -> tuple[str, str]:
    key = X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(private).decode(), base64.b64encode(public).decode()


@dataclass
class Pair:
    edge_host: str
    pop_host: str
    edge_ns: str
    underlay_ns: str
    function_ns: str
    edge_key: tuple[str, str]
    pop_key: tuple[str, str]

    @property
    def edge_if(self) -> str:
        return f"ccpe{self.edge_host}-0"

    @property
    def pop_if(self) -> str:
        return f"ccpe{self.pop_host}-0"

    def edge_doc(self, version: int = 1, keepalive: int | None = 25) -> HostDesiredState:
        tunnel = Tunnel(
            ifname=self.edge_if,
            netns=self.edge_ns,
            private_key=self.edge_key[0],
            listen_port=EDGE_PORT,
            addresses=["100.64.255.2/30"],
            peers=[
                TunnelPeer(
                    public_key=self.pop_key[1],
                    endpoint=TunnelEndpoint(address=UNDERLAY_POP, port=POP_PORT),
                    allowed_ips=["0.0.0.0/0"],
                    persistent_keepalive=keepalive,
                )
            ],
        )
        return HostDesiredState(
            host=self.edge_host,
            version=version,
            namespaces=[
                FunctionNamespace(
                    name=self.edge_ns,
                    owner="edge",
                    kind="site-edge",
                    routes=[Route(dst="10.20.0.0/16", dev=self.edge_if)],
                )
            ],
            tunnels=[tunnel],
        )

    def pop_doc(self, version: int = 1, peers: list[TunnelPeer] | None = None) -> HostDesiredState:
        if peers is None:
            peers = [TunnelPeer(public_key=self.edge_key[1], allowed_ips=["100.64.255.2/32"])]
        return HostDesiredState(
            host=self.pop_host,
            version=version,
            namespaces=[
                FunctionNamespace(name=self.underlay_ns, owner="pop", kind="underlay"),
                FunctionNamespace(name=self.function_ns, owner="fn", kind="firewall"),
            ],
            tunnels=[
                Tunnel(
                    ifname=self.pop_if,
                    netns=self.function_ns,
                    underlay_netns=self.underlay_ns,
                    private_key=self.pop_key[0],
                    listen_port=POP_PORT,
                    addresses=["100.64.255.1/30"],
                    peers=peers,
                )
            ],
        )


@pytest.fixture
def pair(kernel_scope: KernelScope) -> Iterator[Pair]:
    edge, pop = kernel_scope.host, kernel_scope.new_host()
    p = Pair(
        edge_host=edge,
        pop_host=pop,
        edge_ns=f"ccpe-{edge}-e",
        underlay_ns=f"ccpe-{pop}-ul",
        function_ns=f"ccpe-{pop}-f",
        edge_key=keypair(),
        pop_key=keypair(),
    )
    # the underlay between the two hosts; the driver adopts namespaces that exist
    for ns in (p.edge_ns, p.underlay_ns, p.function_ns):
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", p.edge_ns, "link", "add", "und0", "type", "veth", "peer", "name", "und1")
    run("ip", "-n", p.edge_ns, "link", "set", "und1", "netns", p.underlay_ns)
    for ns, dev, addr in (
        (p.edge_ns, "und0", UNDERLAY_EDGE),
        (p.underlay_ns, "und1", UNDERLAY_POP),
    ):
        run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
    yield p


@pytest.fixture
def linux() -> Iterator[LinuxDriver]:
    driver = LinuxDriver()
    yield driver
    driver.close()


def assert_running(observed: ObservedState) -> None:
    assert not observed.errors, observed.errors
    bad = [f for f in observed.functions if f.state != "running"]
    bad_tunnels = [t for t in observed.tunnels if t.state != "running"]
    assert not bad and not bad_tunnels, (bad, bad_tunnels)


def uapi_get(ifname: str) -> dict[str, list[str]]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(f"/var/run/wireguard/{ifname}.sock")
        sock.sendall(b"get=1\n\n")
        answer = b""
        while not answer.endswith(b"\n\n"):
            answer += sock.recv(65536)
    out: dict[str, list[str]] = {}
    for line in answer.decode().splitlines():
        if line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def pid_of(ifname: str) -> int:
    (pid,) = [p for p, name in wireguard_processes().items() if name == ifname]
    return pid


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def tear_down(linux: LinuxDriver, pair: Pair) -> None:
    for host in (pair.edge_host, pair.pop_host):
        linux.apply(HostDesiredState(host=host))


def test_a_tunnel_carries_packets_between_two_hosts(pair: Pair, linux: LinuxDriver) -> None:
    assert_running(linux.apply(pair.pop_doc()))
    assert_running(linux.apply(pair.edge_doc()))
    try:
        assert ping(pair.edge_ns, "100.64.255.1", timeout=2).ok
        # the pop's process runs in the underlay, its interface lives in the function
        pid = pid_of(pair.pop_if)
        assert netns_inode(f"/proc/{pid}/ns/net") == netns_inode(f"/run/netns/{pair.underlay_ns}")
        (link,) = ip_json(pair.function_ns, "-d", "link", "show", "dev", pair.pop_if)
        assert link["linkinfo"]["info_kind"] == "tun"
        assert "UP" in link["flags"]
        assert pair.pop_if not in {x["ifname"] for x in ip_json(pair.underlay_ns, "link", "show")}
        config = uapi_get(pair.pop_if)
        assert config["listen_port"] == [str(POP_PORT)]
        assert config["allowed_ip"] == ["100.64.255.2/32"]
        # the edge's route into the tunnel is in place
        routes = ip_json(pair.edge_ns, "route", "show", "10.20.0.0/16")
        assert routes[0]["dev"] == pair.edge_if
        # the handshake is reported once it happened
        observed = linux.observe(pair.edge_doc())
        assert observed.tunnels[0].latest_handshake is not None
    finally:
        tear_down(linux, pair)


def test_applying_again_changes_nothing_and_peer_changes_keep_the_process(
    pair: Pair, linux: LinuxDriver
) -> None:
    linux.apply(pair.pop_doc())
    linux.apply(pair.edge_doc())
    try:
        pid = pid_of(pair.pop_if)
        assert ping(pair.edge_ns, "100.64.255.1", timeout=2).ok
        assert_running(linux.observe(pair.pop_doc()))
        assert_running(linux.apply(pair.pop_doc()))
        assert pid_of(pair.pop_if) == pid

        other = keypair()
        peers = [
            TunnelPeer(public_key=pair.edge_key[1], allowed_ips=["100.64.255.2/32", "10.9.0.0/16"]),
            TunnelPeer(public_key=other[1], allowed_ips=["10.8.0.0/16"]),
        ]
        drift = linux.observe(pair.pop_doc(2, peers))
        (status,) = drift.tunnels
        assert status.state == "failed"
        assert status.reason is not None and "allowed IPs differ" in status.reason
        assert other[0] not in status.reason and pair.pop_key[0] not in status.reason
        assert_running(linux.apply(pair.pop_doc(2, peers)))
        assert pid_of(pair.pop_if) == pid  # re-configured, not restarted
        config = uapi_get(pair.pop_if)
        assert sorted(config["allowed_ip"]) == ["10.8.0.0/16", "10.9.0.0/16", "100.64.255.2/32"]
        # the established session survived the peer change: packets flow at once
        assert ping(pair.edge_ns, "100.64.255.1", timeout=0.5).ok

        assert_running(linux.apply(pair.pop_doc(3)))  # the extra peer goes
        assert len(uapi_get(pair.pop_if)["public_key"]) == 1
        assert pid_of(pair.pop_if) == pid
    finally:
        tear_down(linux, pair)


def test_collection_stops_processes_and_an_empty_document_leaves_nothing(
    pair: Pair, linux: LinuxDriver, kernel_scope: KernelScope
) -> None:
    try:
        linux.apply(pair.pop_doc())
        linux.apply(pair.edge_doc())
        pid = pid_of(pair.edge_if)
        # the tunnel dropped from the document: its process stops, its namespace stays
        edge = FunctionNamespace(name=pair.edge_ns, owner="edge", kind="site-edge")
        without = HostDesiredState(host=pair.edge_host, version=2, namespaces=[edge])
        assert_running(linux.apply(without))
        assert pid not in wireguard_processes()
        assert not os.path.exists(f"/var/run/wireguard/{pair.edge_if}.sock")
        assert pair.edge_ns in {n["name"] for n in ip_json(None, "netns", "list")}
    finally:
        # an empty document: processes, sockets and namespaces all go
        tear_down(linux, pair)
    assert not kernel_scope.tunnel_leftovers()
    names = {n["name"] for n in ip_json(None, "netns", "list")}
    assert not {pair.function_ns, pair.edge_ns} & names


def test_a_killed_process_is_drift_and_apply_restarts_it(pair: Pair, linux: LinuxDriver) -> None:
    linux.apply(pair.pop_doc())
    linux.apply(pair.edge_doc())
    try:
        pid = pid_of(pair.pop_if)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while pid in wireguard_processes() and time.monotonic() < deadline:
            time.sleep(0.01)
        observed = linux.observe(pair.pop_doc())
        (status,) = observed.tunnels
        assert (status.state, status.reason) == ("absent", f"tunnel {pair.pop_if!r}: not running")
        assert observed.functions[1].state == "failed"
        assert_running(linux.apply(pair.pop_doc()))
        assert pid_of(pair.pop_if) != pid
        assert uapi_get(pair.pop_if)["listen_port"] == [str(POP_PORT)]
    finally:
        tear_down(linux, pair)


def test_an_interface_deleted_under_its_process_is_drift_and_apply_restores_it(
    pair: Pair, linux: LinuxDriver
) -> None:
    linux.apply(pair.pop_doc())
    try:
        pid = pid_of(pair.pop_if)
        run("ip", "-n", pair.function_ns, "link", "del", pair.pop_if)
        # wireguard-go notices its interface is gone and exits
        deadline = time.monotonic() + 3
        while pid in wireguard_processes() and time.monotonic() < deadline:
            time.sleep(0.01)
        (status,) = linux.observe(pair.pop_doc()).tunnels
        assert status.state in ("absent", "failed") and status.reason
        assert_running(linux.apply(pair.pop_doc()))
        assert pid_of(pair.pop_if) != pid
        assert pair.pop_if in {x["ifname"] for x in ip_json(pair.function_ns, "link", "show")}
    finally:
        tear_down(linux, pair)


def test_a_name_held_by_a_process_of_another_host_is_refused(
    pair: Pair, linux: LinuxDriver
) -> None:
    linux.apply(pair.pop_doc())
    try:
        doc = pair.pop_doc()
        # a document of another host asking for the same interface name
        stolen = doc.tunnels[0].model_copy(update={"netns": pair.edge_ns, "underlay_netns": None})
        thief = HostDesiredState(
            host=pair.edge_host,
            namespaces=[FunctionNamespace(name=pair.edge_ns, owner="x", kind="x")],
            tunnels=[stolen],
        )
        observed = linux.apply(thief)
        (status,) = observed.tunnels
        assert status.state == "failed"
        assert status.reason is not None and f"host {pair.pop_host!r}" in status.reason
        assert_running(linux.observe(pair.pop_doc()))
    finally:
        tear_down(linux, pair)


def test_the_plain_script_starts_the_same_tunnel(pair: Pair, linux: LinuxDriver) -> None:
    linux.apply(pair.pop_doc())
    # the edge namespace exists already (it holds the test's underlay): script the tunnel only
    edge = pair.edge_doc()
    doc = edge.model_copy(
        update={"namespaces": [FunctionNamespace(name=pair.edge_ns, owner="e", kind="site-edge")]}
    )
    script = render_script(HostDesiredState(host=edge.host, tunnels=edge.tunnels), None)
    assert "<<" in script
    assert all(pair.edge_key[0] not in line for line in script.splitlines() if "<<" in line)
    try:
        subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
        assert ping(pair.edge_ns, "100.64.255.1", timeout=2).ok
        pid = pid_of(pair.edge_if)
        # the driver recognises the script's process and configuration as its own
        assert_running(linux.observe(doc))
        assert_running(linux.apply(doc))
        assert pid_of(pair.edge_if) == pid
    finally:
        tear_down(linux, pair)
