"""The tunnel part of one reconciliation pass: wireguard-go processes, their interfaces and
their configuration, converged like everything else (performed when applying, reported as
drift when observing).

Order within a pass: `collect` runs before the namespaces are garbage-collected (a process
pins the namespace it runs in, so a namespace removed under a running process would leave
the process orphaned and invisible); `ensure` (process, interface, addresses) runs once the
namespaces and links exist and before routes are set (routes may point into a tunnel);
`configure` (keys, port, peers) runs last: a peer with an endpoint and a keepalive starts
its handshake at once, which must find the route to its endpoint in place (a handshake that
cannot be sent is only retried 5 s later).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import partial
from ipaddress import IPv4Interface
from typing import Protocol

from cloudcpe.nfvi.linux import plan, uapi, wireguard
from cloudcpe.nfvi.linux.kernel import NsView, address, kernel_words
from cloudcpe.nfvi.linux.netns import netns_fd
from cloudcpe.nfvi.linux.plan import KernelLink
from cloudcpe.nfvi.linux.wireguard import WgProcess
from cloudcpe.nfvi.model import (
    FunctionState,
    HostDesiredState,
    Tunnel,
    TunnelStatus,
)


class PassHooks(Protocol):
    """What the tunnel step needs from the reconciliation pass it is part of."""

    desired: HostDesiredState
    dry: bool
    prefix: str
    present: set[str]
    errors: list[str]
    failures: dict[str, list[str]]

    def change(
        self,
        owners: Iterable[str],
        label: str,
        drift: str,
        action: Callable[[], object],
        host: bool = False,
    ) -> bool: ...

    def fail(self, namespaces: Iterable[str], reason: str) -> None: ...

    def session(self, name: str | None) -> NsView: ...


class Tunnels:
    def __init__(self, p: PassHooks) -> None:
        self.p = p
        self.host = p.desired.host
        self.ours: dict[str, WgProcess] = {}
        self.foreign: dict[str, WgProcess] = {}
        self.reasons: dict[str, list[str]] = {}
        self.ready: set[str] = set()  # process and interface in place
        self.running: set[str] = set()
        self.handshakes: dict[str, float | None] = {}

    def names_in(self, netns: str) -> set[str]:
        """Tunnel interfaces that may live in `netns` (not stale links to collect)."""
        return {t.ifname for t in self.p.desired.tunnels if netns in (t.netns, t.home)}

    # ------------------------------------------------------------ garbage collection

    def collect(self) -> None:
        """Stop this host's processes that the document does not want where they run."""
        try:
            procs = wireguard.processes()
        except Exception as exc:
            self.p.errors.append(f"tunnels: cannot list processes: {kernel_words(exc)}")
            return
        desired = {t.ifname: t for t in self.p.desired.tunnels}
        for proc in procs:
            if proc.host != self.host:
                self.foreign.setdefault(proc.ifname, proc)
                continue
            tunnel = desired.get(proc.ifname)
            reason = self._stale(proc, tunnel)
            if reason is None:
                self.ours[proc.ifname] = proc
                continue
            label = f"tunnel {proc.ifname!r} (pid {proc.pid})"
            owners = [tunnel.netns] if tunnel is not None else []
            stop = partial(wireguard.stop, proc)
            self.p.change(owners, label, reason, stop, host=tunnel is None)

    def _stale(self, proc: WgProcess, tunnel: Tunnel | None) -> str | None:
        if tunnel is None:
            return "not desired"
        if proc.ifname in self.ours:
            return "a second process for the same tunnel"
        if proc.netns != wireguard.namespace_id(tunnel.home):
            return f"runs outside {tunnel.home!r}"
        return None

    # ------------------------------------------------------------ one tunnel

    def ensure(self, tunnel: Tunnel) -> None:
        if not self._possible(tunnel):
            return
        start = partial(self._start, tunnel)
        if tunnel.ifname not in self.ours and not self._change(tunnel, "not running", start):
            return
        link = self._interface(tunnel)
        if link is None:
            return
        self._address(tunnel, link)
        self.ready.add(tunnel.ifname)

    def configure(self, tunnel: Tunnel) -> None:
        """Converge keys, port and peers of a tunnel `ensure` made ready."""
        if tunnel.ifname not in self.ready:
            return
        self._configure(tunnel)
        if not self.reasons.get(tunnel.ifname):
            self.running.add(tunnel.ifname)

    def _label(self, tunnel: Tunnel) -> str:
        return f"tunnel {tunnel.ifname!r}"

    def _fail(self, tunnel: Tunnel, reason: str) -> None:
        message = f"{self._label(tunnel)}: {reason}"
        self.reasons.setdefault(tunnel.ifname, []).append(message)
        self.p.fail([tunnel.netns], message)

    def _change(self, tunnel: Tunnel, drift: str, action: Callable[[], object]) -> bool:
        ok = self.p.change([tunnel.netns], self._label(tunnel), drift, action)
        if not ok:
            reasons = self.p.failures.get(tunnel.netns) or [drift]
            self.reasons.setdefault(tunnel.ifname, []).append(reasons[-1])
        return ok

    def _possible(self, tunnel: Tunnel) -> bool:
        for ns in dict.fromkeys([tunnel.netns, tunnel.home]):
            if not ns.startswith(self.p.prefix):
                self._fail(tunnel, f"namespace {ns!r} is not under {self.p.prefix!r}")
                return False
            if ns not in self.p.present:
                self._fail(tunnel, f"namespace {ns!r} unavailable")
                return False
        foreign = self.foreign.get(tunnel.ifname)
        if foreign is not None:
            owner = f"host {foreign.host!r}" if foreign.host else "not cloudcpe"
            self._fail(tunnel, f"the name is taken by process {foreign.pid} ({owner})")
            return False
        return True

    def _start(self, tunnel: Tunnel) -> None:
        wireguard.start(tunnel.ifname, tunnel.home, self.host)
        started = [p for p in wireguard.processes() if p.ifname == tunnel.ifname]
        for proc in started:
            if proc.host == self.host:
                self.ours[tunnel.ifname] = proc

    def _interface(self, tunnel: Tunnel, restarted: bool = False) -> KernelLink | None:
        """The tunnel's interface in its namespace, moved there from the underlay if needed."""
        session = self.p.session(tunnel.netns)
        link = session.reload_link(tunnel.ifname)
        if link is not None and link.kind != "tun":
            self._fail(tunnel, f"{tunnel.netns}/{tunnel.ifname} exists and is not a tunnel")
            return None
        if link is None and tunnel.home != tunnel.netns:
            home = self.p.session(tunnel.home)
            found = home.reload_link(tunnel.ifname)
            if found is not None:
                move = partial(_move, home, found, tunnel.netns)
                if not self._change(tunnel, f"in {tunnel.home!r}", move):
                    return None
                home.forget(tunnel.ifname)
                link = session.reload_link(tunnel.ifname)
        if link is not None:
            return link
        if self.p.dry or restarted:
            self._fail(tunnel, "the process runs without its interface")
            return None
        # the interface was deleted under a running process: start the tunnel afresh
        if not self._change(tunnel, "interface missing", partial(self._restart, tunnel)):
            return None
        return self._interface(tunnel, restarted=True)

    def _restart(self, tunnel: Tunnel) -> None:
        proc = self.ours.pop(tunnel.ifname, None)
        if proc is not None:
            wireguard.stop(proc)
        self._start(tunnel)

    def _configure(self, tunnel: Tunnel) -> None:
        try:
            current = wireguard.get(tunnel.ifname)
        except Exception as exc:
            self._fail(tunnel, f"control socket: {kernel_words(exc)}")
            return
        self.handshakes[tunnel.ifname] = current.latest_handshake
        request, drift = uapi.set_request(tunnel, current)
        if request is not None:
            apply = partial(wireguard.configure, tunnel.ifname, request)
            self._change(tunnel, "; ".join(drift), apply)

    def _address(self, tunnel: Tunnel, link: KernelLink) -> None:
        session = self.p.session(tunnel.netns)
        add, remove = plan.address_changes(tunnel.addresses, _addresses(session, link.index))
        for addr in remove:
            drop = partial(address, session, "del", link.index, addr)
            self._change(tunnel, f"address {addr} not desired", drop)
        for addr in add:
            put = partial(address, session, "add", link.index, addr)
            self._change(tunnel, f"address {addr} missing", put)
        if not link.up:
            up = partial(session.ipr.link, "set", index=link.index, state="up")
            self._change(tunnel, "down", up)

    # ------------------------------------------------------------ report

    def statuses(self) -> list[TunnelStatus]:
        out = []
        for tunnel in self.p.desired.tunnels:
            reasons = self.reasons.get(tunnel.ifname)
            state: FunctionState
            if tunnel.ifname in self.running:
                state = "running"
            elif self.p.dry and tunnel.ifname not in self.ours:
                state = "absent"
            else:
                state = "failed"
            out.append(
                TunnelStatus(
                    ifname=tunnel.ifname,
                    netns=tunnel.netns,
                    state=state,
                    reason="; ".join(reasons) if reasons else None,
                    latest_handshake=self.handshakes.get(tunnel.ifname),
                )
            )
        return out


def _addresses(session: NsView, index: int) -> list[IPv4Interface]:
    # the address cache of the pass may predate the interface's arrival: ask afresh
    session.forget_addresses()
    return session.addresses(index)


def _move(home: NsView, link: KernelLink, netns: str) -> None:
    """Move an interface into another namespace (the kernel drops its addresses on the way)."""
    fd = netns_fd(netns)
    try:
        home.ipr.link("set", index=link.index, net_ns_fd=fd)
    finally:
        os.close(fd)
