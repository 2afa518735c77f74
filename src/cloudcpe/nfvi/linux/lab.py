"""Simulated customer sites, a provider network and POPs on this machine, and traffic
probes, for the demo, tests and benchmarks.

`LabSite` builds three namespaces around a device: the device itself (`ccpe-lab-N-cpe`,
the NFVI host whose ports `ccpe-lan` and `ccpe-wan` the chain attaches to), a LAN host
(`ccpe-lab-N-lan`) and the internet (`ccpe-lab-N-inet`: the ISP gateway, also the server).

Given a `LabProvider`, a site has no internet of its own: its WAN port hangs on the
provider's router (`ccpe-lab-P-net`), which also routes the uplinks of `LabPop`s (compute
nodes `ccpe-lab-N-cnI` with an uplink port `ccpe-up` on one segment per POP) and answers as
the internet server. That is the underlay between a cloud site's thin CPE and its POP.

`ManagementWan` joins devices to an orchestrator in a namespace of its own (the provider's
management network, for host agents); `spawn_in_netns` starts a process (an agent, the
orchestrator) in a namespace and `NetnsTransport` lets an HTTP client reach into one.
This module and the Linux driver are the only code that touches the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from types import TracebackType
from typing import Any

import httpx
from pyroute2.netlink.exceptions import NetlinkError

from cloudcpe.nfvi.linux.kernel import settle_carrier
from cloudcpe.nfvi.linux.netns import (
    NETNS_RUN_DIR,
    create_netns,
    iproute,
    list_netns,
    netns_exists,
    netns_fd,
    netns_socket,
    remove_netns,
    run_in_netns,
    write_sysctl,
)

LAB_PREFIX = "ccpe-lab-"
LAN_PORT = "ccpe-lan"
WAN_PORT = "ccpe-wan"
UPLINK_PORT = "ccpe-up"
HOST_IFNAME = "ccpe-eth0"


def _ifname(*parts: str) -> str:
    """A provider-side interface name from a lab name: `ccpe-<parts>`, hashed when too long."""
    name = "ccpe-" + "".join(parts)
    if len(name) <= 15:
        return name
    return "ccpe-" + hashlib.sha256(name.encode()).hexdigest()[:10]


class LabProvider:
    """A provider network: one router joining site WANs, POP uplinks and the internet.

    The router itself answers as the internet server at `server` (an address of its own), so
    a `TcpServer` in `netns` is "a host on the internet" for every site and POP attached.
    """

    def __init__(self, name: str, server: str = "192.0.2.1") -> None:
        self.name = name
        self.server = IPv4Address(server)

    @property
    def netns(self) -> str:
        return f"{LAB_PREFIX}{self.name}-net"

    def up(self) -> None:
        if not netns_exists(self.netns):
            create_netns(self.netns)
        with iproute(self.netns) as ipr:
            lo = _index(ipr, "lo")
            _add_address(ipr, lo, IPv4Interface(f"{self.server}/32"))
            ipr.link("set", index=lo, state="up")
        run_in_netns(self.netns, lambda: write_sysctl("ipv4.ip_forward", "1"))

    def down(self) -> None:
        remove_netns(self.netns)

    def __enter__(self) -> LabProvider:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def attach(
        self, ifname: str, gateway: IPv4Interface | None, peer_netns: str, peer_ifname: str
    ) -> None:
        """A link from the router (`ifname`, holding `gateway`) to `peer_ifname` in
        `peer_netns`; existing links are kept."""
        with iproute(self.netns) as ipr:
            if not ipr.link_lookup(ifname=ifname):
                fd = netns_fd(peer_netns)
                try:
                    ipr.link(
                        "add",
                        ifname=ifname,
                        kind="veth",
                        peer={"ifname": peer_ifname, "net_ns_fd": fd},
                    )
                finally:
                    os.close(fd)
            index = _index(ipr, ifname)
            if gateway is not None:
                _add_address(ipr, index, gateway)
            ipr.link("set", index=index, state="up")

    def segment(self, bridge: str, gateway: IPv4Interface) -> None:
        """A bridge on the router holding `gateway`: one L2 segment for several hosts."""
        with iproute(self.netns) as ipr:
            if not ipr.link_lookup(ifname=bridge):
                ipr.link("add", ifname=bridge, kind="bridge")
            index = _index(ipr, bridge)
            _add_address(ipr, index, gateway)
            ipr.link("set", index=index, state="up")

    def enslave(self, ifname: str, bridge: str) -> None:
        with iproute(self.netns) as ipr:
            ipr.link("set", index=_index(ipr, ifname), master=_index(ipr, bridge))


class LabPop:
    """A POP's compute nodes on one uplink segment of the provider network.

    Node i (from 1) is the namespace `ccpe-lab-<name>-cn<i>` with the port `ccpe-up` and no
    address: the orchestrator places the node's tunnel endpoint (`node_address(i)`) and the
    chains' public addresses (from `pool`) on that segment; `gateway` is the router.
    """

    def __init__(
        self,
        name: str,
        provider: LabProvider,
        nodes: int = 2,
        uplink: str = "198.51.100.0/24",
        pool: str = "198.51.100.128/26",
    ) -> None:
        self.name = name
        self.provider = provider
        self.nodes = nodes
        self.uplink = IPv4Network(uplink)
        self.pool = IPv4Network(pool)

    @property
    def gateway(self) -> IPv4Address:
        return self.uplink.network_address + 1

    def node_netns(self, i: int) -> str:
        return f"{LAB_PREFIX}{self.name}-cn{i}"

    def node_address(self, i: int) -> IPv4Interface:
        return IPv4Interface(f"{self.uplink.network_address + 10 + i}/{self.uplink.prefixlen}")

    @property
    def namespaces(self) -> list[str]:
        return [self.node_netns(i) for i in range(1, self.nodes + 1)]

    @property
    def uplink_port(self) -> str:
        return UPLINK_PORT

    def up(self) -> None:
        bridge = _ifname("b", self.name)
        self.provider.segment(bridge, IPv4Interface(f"{self.gateway}/{self.uplink.prefixlen}"))
        for i, ns in enumerate(self.namespaces, start=1):
            if not netns_exists(ns):
                create_netns(ns)
            port = _ifname(self.name, f"u{i}")
            self.provider.attach(port, None, ns, UPLINK_PORT)
            self.provider.enslave(port, bridge)
            with iproute(ns) as ipr:
                for name in ("lo", UPLINK_PORT):
                    ipr.link("set", index=_index(ipr, name), state="up")
            _settle(ns, UPLINK_PORT)
            _settle(self.provider.netns, port)

    def down(self) -> None:
        for ns in self.namespaces:
            remove_netns(ns)
        with contextlib.suppress(OSError, NetlinkError), iproute(self.provider.netns) as ipr:
            for index in ipr.link_lookup(ifname=_ifname("b", self.name)):
                ipr.link("del", index=index)

    def __enter__(self) -> LabPop:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()


class LabSite:
    """A device with a LAN host behind it and the internet in front of it: its own, or the
    router of a `provider` network shared with other sites and POPs."""

    def __init__(
        self,
        name: str,
        lan_prefix: str = "192.168.10.0/24",
        wan_address: str = "203.0.113.2/24",
        wan_gateway: str = "203.0.113.1",
        provider: LabProvider | None = None,
    ) -> None:
        self.name = name
        self.lan_prefix = IPv4Network(lan_prefix)
        self.wan_address = IPv4Interface(wan_address)
        self.wan_gateway = IPv4Address(wan_gateway)
        self.provider = provider

    # ------------------------------------------------------------ names and addresses

    @property
    def host_netns(self) -> str:
        """The device: the NFVI host namespace a driver gets as `host_netns`."""
        return f"{LAB_PREFIX}{self.name}-cpe"

    @property
    def cpe_netns(self) -> str:
        """Another name for `host_netns`: the namespace of the CPE device."""
        return self.host_netns

    @property
    def lan_netns(self) -> str:
        return f"{LAB_PREFIX}{self.name}-lan"

    @property
    def inet_netns(self) -> str:
        """Where the internet server runs: the site's own, or the provider's router."""
        if self.provider is not None:
            return self.provider.netns
        return f"{LAB_PREFIX}{self.name}-inet"

    @property
    def namespaces(self) -> list[str]:
        """The namespaces this site owns (a provider's router is not one of them)."""
        if self.provider is not None:
            return [self.host_netns, self.lan_netns]
        return [self.host_netns, self.lan_netns, self.inet_netns]

    @property
    def lan_port(self) -> str:
        return LAN_PORT

    @property
    def wan_port(self) -> str:
        return WAN_PORT

    @property
    def lan_gateway(self) -> IPv4Interface:
        """Where the chain's LAN side must answer (1st host of the LAN prefix)."""
        return IPv4Interface(f"{self.lan_prefix[1]}/{self.lan_prefix.prefixlen}")

    @property
    def lan_host(self) -> IPv4Interface:
        return IPv4Interface(f"{self.lan_prefix[10]}/{self.lan_prefix.prefixlen}")

    @property
    def wan_gateway_interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.wan_gateway}/{self.wan_address.network.prefixlen}")

    @property
    def server(self) -> IPv4Address:
        """The internet host: the ISP gateway doubles as the server (or the provider's)."""
        if self.provider is not None:
            return self.provider.server
        return self.wan_gateway

    # ------------------------------------------------------------ lifecycle

    def up(self) -> None:
        """Create whatever of the site is missing; calling it again changes nothing."""
        for ns in self.namespaces:
            if not netns_exists(ns):
                create_netns(ns)
        self._wire(LAN_PORT, self.lan_netns)
        self._configure_host(self.lan_netns, self.lan_host, self.lan_gateway.ip)
        if self.provider is None:
            self._wire(WAN_PORT, self.inet_netns)
            self._configure_host(self.inet_netns, self.wan_gateway_interface, None)
        else:
            self.provider.attach(
                self.provider_port, self.wan_gateway_interface, self.host_netns, WAN_PORT
            )
        with iproute(self.host_netns) as ipr:
            for name in ("lo", LAN_PORT, WAN_PORT):
                ipr.link("set", index=_index(ipr, name), state="up")
        self._settle(self.host_netns, LAN_PORT, WAN_PORT)
        self._settle(self.lan_netns, HOST_IFNAME)
        if self.provider is None:
            self._settle(self.inet_netns, HOST_IFNAME)
        else:
            self._settle(self.inet_netns, self.provider_port)

    @property
    def provider_port(self) -> str:
        """The router's end of this site's WAN link, when on a provider network."""
        return _ifname("w", self.name)

    def down(self) -> None:
        """Remove the site (its WAN link on a provider goes with it); works on a half-built
        site too."""
        for ns in self.namespaces:
            remove_netns(ns)

    def __enter__(self) -> LabSite:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def _wire(self, port: str, peer_netns: str) -> None:
        with iproute(self.host_netns) as ipr:
            if ipr.link_lookup(ifname=port):
                return
            fd = netns_fd(peer_netns)
            try:
                with iproute(peer_netns) as peer:
                    for index in peer.link_lookup(ifname=HOST_IFNAME):
                        peer.link("del", index=index)  # a leftover whose device end is gone
                ipr.link(
                    "add", ifname=port, kind="veth", peer={"ifname": HOST_IFNAME, "net_ns_fd": fd}
                )
            finally:
                os.close(fd)

    @staticmethod
    def _settle(ns: str, *ifnames: str) -> None:
        _settle(ns, *ifnames)

    def _configure_host(self, ns: str, address: IPv4Interface, gateway: IPv4Address | None) -> None:
        with iproute(ns) as ipr:
            index = _index(ipr, HOST_IFNAME)
            _add_address(ipr, index, address)
            ipr.link("set", index=_index(ipr, "lo"), state="up")
            ipr.link("set", index=index, state="up")
            if gateway is not None:
                ipr.route("replace", dst="0.0.0.0", dst_len=0, gateway=str(gateway), oif=index)


def _settle(ns: str, *ifnames: str) -> None:
    # the ports would otherwise drop traffic for up to a second (see settle_carrier)
    with netns_socket(ns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for ifname in ifnames:
            settle_carrier(sock, ifname)


def _add_address(ipr: Any, index: int, address: IPv4Interface) -> None:
    try:
        ipr.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _index(ipr: Any, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LookupError(f"interface {name!r} not found")
    index: int = found[0]
    return index


def cleanup_prefix(prefix: str = LAB_PREFIX) -> list[str]:
    """Remove every namespace whose name starts with `prefix`; return their names."""
    removed = [ns for ns in list_netns() if ns.startswith(prefix)]
    for ns in removed:
        remove_netns(ns)
    return removed


# ---------------------------------------------------------------- management network

MGMT_BRIDGE = "ccpe-brmgmt"
MGMT_IFNAME = "ccpe-mgmt"


class ManagementWan:
    """The provider's management network between the orchestrator and its hosts.

    The orchestrator lives in its own namespace (`ccpe-lab-<name>-orch`), which holds a
    bridge with the orchestrator's address (first host of `subnet`). Each attached host
    namespace (a lab device, or a bare host made here) gets a link `ccpe-mgmt` into that
    bridge with an address of its own, so agents reach the orchestrator over real
    addresses, and nothing of it touches the root namespace.
    """

    def __init__(self, name: str, subnet: str = "10.254.0.0/24") -> None:
        self.name = name
        self.subnet = IPv4Network(subnet)
        self._hosts: list[str] = []

    @property
    def orch_netns(self) -> str:
        return f"{LAB_PREFIX}{self.name}-orch"

    @property
    def orch_address(self) -> IPv4Address:
        return self.subnet.network_address + 1

    def address_of(self, index: int) -> IPv4Interface:
        return IPv4Interface(f"{self.subnet.network_address + 10 + index}/{self.subnet.prefixlen}")

    def up(self) -> None:
        if not netns_exists(self.orch_netns):
            create_netns(self.orch_netns)
        with iproute(self.orch_netns) as ipr:
            ipr.link("set", index=_index(ipr, "lo"), state="up")
            if not ipr.link_lookup(ifname=MGMT_BRIDGE):
                ipr.link("add", ifname=MGMT_BRIDGE, kind="bridge")
            index = _index(ipr, MGMT_BRIDGE)
            _add_address(ipr, index, IPv4Interface(f"{self.orch_address}/{self.subnet.prefixlen}"))
            ipr.link("set", index=index, state="up")

    def add_host(self, label: str, index: int) -> str:
        """A bare host namespace `ccpe-lab-<name>-<label>` attached at `index`."""
        netns = f"{LAB_PREFIX}{self.name}-{label}"
        if not netns_exists(netns):
            create_netns(netns)
        self._hosts.append(netns)
        self.attach(netns, index)
        return netns

    def attach(self, netns: str, index: int) -> IPv4Interface:
        """Link `netns` to the management bridge as host number `index` (1-200)."""
        if not 1 <= index <= 200:
            raise ValueError(f"management host index {index} must be within 1-200")
        peer = f"ccpe-m{index}"
        address = self.address_of(index)
        with iproute(netns) as ipr:
            if not ipr.link_lookup(ifname=MGMT_IFNAME):
                fd = netns_fd(self.orch_netns)
                try:
                    ipr.link(
                        "add",
                        ifname=MGMT_IFNAME,
                        kind="veth",
                        peer={"ifname": peer, "net_ns_fd": fd},
                    )
                finally:
                    os.close(fd)
            index_ = _index(ipr, MGMT_IFNAME)
            _add_address(ipr, index_, address)
            ipr.link("set", index=_index(ipr, "lo"), state="up")
            ipr.link("set", index=index_, state="up")
        with iproute(self.orch_netns) as orch:
            port = _index(orch, peer)
            orch.link("set", index=port, master=_index(orch, MGMT_BRIDGE), state="up")
        self._settle(netns, MGMT_IFNAME)
        return address

    def down(self) -> None:
        """Remove the orchestrator's namespace and the bare hosts made here."""
        for netns in [*self._hosts, self.orch_netns]:
            remove_netns(netns)
        self._hosts.clear()

    @staticmethod
    def _settle(ns: str, *ifnames: str) -> None:
        with netns_socket(ns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for ifname in ifnames:
                settle_carrier(sock, ifname)


def spawn_in_netns(netns: str, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start a process in network namespace `netns`, and in nothing else of it.

    `ip netns exec` would also give the process a mount namespace of its own, and a
    namespace the process then creates (an agent making its functions' namespaces) would
    be mounted there only: invisible outside, and gone with the process. `nsenter --net`
    enters the network namespace alone. The process is the command itself (no fork)."""
    path = os.path.join(NETNS_RUN_DIR, netns)
    return subprocess.Popen(["nsenter", f"--net={path}", "--", *argv], **popen)


class NetnsTransport(httpx.BaseTransport):
    """An httpx transport whose connections are made inside a network namespace, so that a
    test or a benchmark in the root namespace can call a server that listens in a lab one."""

    def __init__(self, netns: str, **transport: Any) -> None:
        self.netns = netns
        self._inner = httpx.HTTPTransport(**transport)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # the socket is created on a thread inside the namespace; it stays there, and is
        # reused from any thread afterwards (keep-alive)
        return run_in_netns(self.netns, lambda: self._inner.handle_request(request))

    def close(self) -> None:
        self._inner.close()


# ---------------------------------------------------------------- traffic probes


@dataclass(frozen=True)
class ConnectResult:
    ok: bool
    error: str | None
    seconds: float


_HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"OPTIONS ")
_HTTP_BODY = b"cloudcpe lab server\n"
_HTTP_REPLY = (
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_HTTP_BODY)).encode() + b"\r\n\r\n" + _HTTP_BODY
)


class TcpServer:
    """A TCP server inside a namespace: answers HTTP requests with 200 (so curl-like clients
    work) and echoes anything else back on a connection kept open (for long-lived flows).
    `peers` lists the source addresses it saw, in order."""

    def __init__(self, netns: str | None, port: int, host: str = "0.0.0.0") -> None:
        self.netns = netns
        self.port = port
        self.host = host
        self.peers: list[str] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._stopping = threading.Event()

    def __enter__(self) -> TcpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        sock = netns_socket(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.settimeout(0.2)  # lets the accept loop notice stop()
        self._sock = sock
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def sources(self) -> set[str]:
        with self._lock:
            return set(self.peers)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.peers.append(peer[0])
                self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(None)
            try:
                data = conn.recv(65536)
                if data.startswith(_HTTP_METHODS):
                    conn.sendall(_HTTP_REPLY)
                    return
                while data:
                    conn.sendall(data)
                    data = conn.recv(65536)
            except OSError:
                return
            finally:
                with self._lock:
                    if conn in self._conns:
                        self._conns.remove(conn)


def tcp_connect(
    netns: str | None, host: str | IPv4Address, port: int, timeout: float = 2.0
) -> ConnectResult:
    """Open a TCP connection from inside `netns`, send an HTTP GET, expect an HTTP answer."""
    start = time.monotonic()
    try:
        sock = netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        return ConnectResult(False, str(exc), time.monotonic() - start)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((str(host), port))
            sock.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            reply = sock.recv(4096)
        except TimeoutError:
            return ConnectResult(False, "timed out", time.monotonic() - start)
        except OSError as exc:
            return ConnectResult(False, exc.strerror or str(exc), time.monotonic() - start)
    if not reply.startswith(b"HTTP/"):
        return ConnectResult(False, f"unexpected reply {reply[:40]!r}", time.monotonic() - start)
    return ConnectResult(True, None, time.monotonic() - start)


class HeldConnection:
    """An established TCP connection kept open, to exchange data on it later (e.g. across a
    ruleset update). Talks to `TcpServer`'s echo mode."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def exchange(self, data: bytes = b"ping\n", timeout: float = 2.0) -> bytes:
        """Send `data` and read the echo; raises TimeoutError/OSError when the flow is cut."""
        self._sock.settimeout(timeout)
        self._sock.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "connection closed by peer")
            received += chunk
        return received

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> HeldConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def hold_connection(
    netns: str | None, host: str | IPv4Address, port: int, timeout: float = 2.0
) -> HeldConnection:
    sock = netns_socket(netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((str(host), port))
    except BaseException:
        sock.close()
        raise
    return HeldConnection(sock)


def ping(netns: str | None, host: str | IPv4Address, timeout: float = 1.0) -> ConnectResult:
    """One ICMP echo from inside `netns` (raw socket: needs root, as the lab does)."""
    start = time.monotonic()
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF
    packet = _icmp_echo(ident, 1, b"cloudcpe-lab")
    try:
        sock = netns_socket(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except OSError as exc:
        return ConnectResult(False, str(exc), time.monotonic() - start)
    with sock:
        try:
            sock.sendto(packet, (str(host), 0))
            for reply in _icmp_replies(sock, timeout, start):
                if _is_echo_reply(reply, ident):
                    return ConnectResult(True, None, time.monotonic() - start)
        except OSError as exc:
            return ConnectResult(False, exc.strerror or str(exc), time.monotonic() - start)
    return ConnectResult(False, "timed out", time.monotonic() - start)


def _icmp_replies(sock: socket.socket, timeout: float, start: float) -> Iterator[bytes]:
    while (left := timeout - (time.monotonic() - start)) > 0:
        sock.settimeout(left)
        try:
            yield sock.recv(65536)
        except TimeoutError:
            return


def _icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    checksum = _checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, checksum, ident, seq) + payload


def _is_echo_reply(packet: bytes, ident: int) -> bool:
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return False
    kind, _code, _sum, got_ident, _seq = struct.unpack("!BBHHH", packet[ihl : ihl + 8])
    return bool(kind == 0 and got_ident == ident)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF
