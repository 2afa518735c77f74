"""The Linux NFVI driver: realises a host's desired state with namespaces, veth and nftables.

One reconciliation pass (`_Pass`) serves both `apply` and `observe`: every kernel change
goes through `_Pass.change`, which performs it when applying and reports it as drift when
observing, so the two can never disagree about what "in place" means.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from cloudcpe.nfvi.driver import register_driver
from cloudcpe.nfvi.linux import kernel, plan
from cloudcpe.nfvi.linux.kernel import NsView, Refused, kernel_words
from cloudcpe.nfvi.linux.netns import (
    create_netns,
    list_netns,
    netns_fd,
    run_in_netns,
    write_sysctl,
)
from cloudcpe.nfvi.linux.plan import KernelLink
from cloudcpe.nfvi.linux.telemetry import read_host as read_telemetry
from cloudcpe.nfvi.linux.tunnels import Tunnels
from cloudcpe.nfvi.model import (
    Bridge,
    FunctionNamespace,
    FunctionState,
    FunctionStatus,
    HostDesiredState,
    HostTelemetry,
    LinkEnd,
    ObservedState,
    VethLink,
    namespace_prefix,
)

_End = tuple[LinkEnd, NsView, KernelLink]  # a link end: desired, its namespace, the kernel's


class _Pass:
    """One reconciliation of a host (dry=True: observe only)."""

    def __init__(
        self, desired: HostDesiredState, host_netns: str | None, nft: kernel.NftPool, dry: bool
    ) -> None:
        self.desired = desired
        self.nft = nft
        self.host_netns = host_netns
        self.dry = dry
        self.prefix = namespace_prefix(desired.host)
        self.alias = plan.owner_alias(desired.host)
        self.group = kernel.teardown_group(self.alias)
        self.host_label = f"host namespace {host_netns!r}" if host_netns else "host namespace"
        self.failures: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.present: set[str] = set()
        self.sessions: dict[str | None, NsView] = {}
        self.host_sysctls: dict[str, tuple[str, set[str]]] = {}
        self.ns_sysctls: dict[str, dict[str, str]] = {}
        self.tunnels = Tunnels(self)

    # ------------------------------------------------------------ plumbing

    def fail(self, namespaces: Iterable[str], reason: str) -> None:
        for ns in namespaces:
            reasons = self.failures.setdefault(ns, [])
            if reason not in reasons:
                reasons.append(reason)

    def host_error(self, message: str, namespaces: Iterable[str]) -> None:
        if message not in self.errors:
            self.errors.append(message)
        self.fail(namespaces, message)

    def change(
        self,
        owners: Iterable[str],
        label: str,
        drift: str,
        action: Callable[[], object],
        host: bool = False,
    ) -> bool:
        """Perform one kernel change (apply) or report it (observe). True when it happened.

        A failure fails the functions in `owners`; with `host`, it is also a host-level error.
        """
        try:
            if self.dry:
                message = f"{label}: {drift}"
            else:
                action()
                return True
        except Exception as exc:  # one rejected object fails its functions, not the host
            message = f"{label}: {kernel_words(exc)}"
        if host:
            self.host_error(message, owners)
        else:
            self.fail(owners, message)
        return False

    def guard(
        self, owners: Iterable[str], label: str, step: Callable[[], None], host: bool = False
    ) -> None:
        """Run one step; whatever it raises fails its functions, never the whole pass."""
        try:
            step()
        except Exception as exc:
            message = f"{label}: {kernel_words(exc)}"
            if host:
                self.host_error(message, owners)
            else:
                self.fail(owners, message)

    def session(self, name: str | None) -> NsView:
        if name not in self.sessions:
            self.sessions[name] = NsView(name if name else self.host_netns)
        return self.sessions[name]

    def close(self) -> None:
        for s in self.sessions.values():
            s.close()
        self.sessions.clear()

    def ns_fd(self, name: str | None) -> int:
        target = name if name else self.host_netns
        # thread-self: a caller may run us on a thread it moved into another namespace
        return netns_fd(target) if target else os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    # ------------------------------------------------------------ the pass

    def run(self) -> ObservedState:
        try:
            host_ok = self.open_host()
            if host_ok:
                self.collect_host()
            self.tunnels.collect()  # a running process pins its namespace: stop it first
            self.collect_namespaces()
            self.ensure_namespaces()
            deps = plan.bridge_dependents(self.desired)
            if host_ok:
                for bridge in self.desired.bridges:
                    users = deps.get(bridge.name, set())
                    label = f"bridge {bridge.name!r}"
                    self.guard(users, label, partial(self.ensure_bridge, bridge), host=True)
            for link in self.desired.links:
                owners = plan.namespaces_of(link)
                label = plan.link_label(link)
                self.guard(owners, label, partial(self.ensure_link, link, host_ok))
            for tunnel in self.desired.tunnels:
                label = f"tunnel {tunnel.ifname!r}"
                self.guard([tunnel.netns], label, partial(self.tunnels.ensure, tunnel))
            if host_ok:
                self.finish_host()
            for ns in self.desired.namespaces:
                if ns.name in self.present:
                    label = f"namespace {ns.name!r}"
                    self.guard([ns.name], label, partial(self.finish_namespace, ns))
            for tunnel in self.desired.tunnels:
                label = f"tunnel {tunnel.ifname!r}"
                self.guard([tunnel.netns], label, partial(self.tunnels.configure, tunnel))
        finally:
            self.close()
        return self.observed()

    def open_host(self) -> bool:
        try:
            self.session(None).links()
        except Exception as exc:
            users: set[str] = set()
            for link in self.desired.links:
                if link.a.netns is None or link.b.netns is None:
                    users |= plan.namespaces_of(link)
            self.host_error(f"{self.host_label} unavailable: {kernel_words(exc)}", users)
            return False
        return True

    def host_ends(self) -> list[LinkEnd]:
        ends = []
        for link in self.desired.links:
            if link.a.netns is None or link.b.netns is None:
                ends.extend([link.a, link.b])
        return ends

    def observed(self) -> ObservedState:
        functions = []
        for ns in self.desired.namespaces:
            reasons = self.failures.get(ns.name)
            state: FunctionState
            reason = "; ".join(reasons) if reasons else None
            if ns.name not in self.present and (self.dry or not reasons):
                state = "absent"
            else:
                state = "failed" if reasons else "running"
            functions.append(
                FunctionStatus(owner=ns.owner, namespace=ns.name, state=state, reason=reason)
            )
        return ObservedState(
            host=self.desired.host,
            version=self.desired.version,
            functions=functions,
            errors=list(self.errors),
            tunnels=self.tunnels.statuses(),
        )

    # ------------------------------------------------------------ garbage collection

    def collect_host(self) -> None:
        host = self.session(None)
        wanted = {e.ifname for e in self.host_ends() if e.netns is None}
        wanted |= {b.name for b in self.desired.bridges}
        ours = [k for k in host.links().values() if k.kind in ("veth", "bridge")]
        stale = plan.stale_links(ours, wanted, alias=self.alias)
        if not stale:
            return
        names = ", ".join(repr(k.name) for k in stale)
        drop = partial(kernel.del_links, host.ipr, [k.index for k in stale], self.group)
        self.change([], f"{self.host_label}: {names}", "not desired", drop, host=True)
        for link in stale:
            host.forget(link.name)

    def collect_namespaces(self) -> None:
        wanted = {ns.name for ns in self.desired.namespaces}
        for name in list_netns():
            if name.startswith(self.prefix) and name not in wanted:
                if self.dry:
                    self.errors.append(f"namespace {name!r}: not desired")
                    continue
                try:
                    self.nft.discard(name)
                    kernel.remove_namespace(name, self.group)
                except Exception as exc:
                    self.errors.append(f"namespace {name!r}: cannot remove: {kernel_words(exc)}")

    # ------------------------------------------------------------ namespaces

    def ensure_namespaces(self) -> None:
        existing = set(list_netns())
        for ns in self.desired.namespaces:
            if not ns.name.startswith(self.prefix):
                self.fail([ns.name], f"namespace {ns.name!r}: not under {self.prefix!r}")
                continue
            if ns.name not in existing:
                if self.dry:
                    continue  # reported as absent
                label = f"namespace {ns.name!r}"
                if not self.change([ns.name], label, "absent", partial(create_netns, ns.name)):
                    continue
            self.present.add(ns.name)
            self.guard([ns.name], f"namespace {ns.name!r}", partial(self.prepare_namespace, ns))

    def prepare_namespace(self, ns: FunctionNamespace) -> None:
        session = self.session(ns.name)
        lo = session.link("lo")
        if lo is not None and not lo.up:
            self.change([ns.name], f"{ns.name}/lo", "down", _link_set(session, lo, state="up"))
        general, per_if = plan.split_sysctls(ns.sysctls)
        self.ns_sysctls[ns.name] = dict(per_if)
        self.sync_sysctls(ns.name, [ns.name], general)

    def sync_sysctls(self, netns: str | None, owners: list[str], values: dict[str, str]) -> None:
        if not values:
            return
        target = netns if netns else self.host_netns
        try:
            current = run_in_netns(target, partial(kernel.read_sysctls, values))
        except Exception as exc:
            self.fail(owners, f"sysctls: {kernel_words(exc)}")
            return
        for key, value in values.items():
            have = current.get(key)
            if have is not None and have.split() == value.split():
                continue
            label = f"sysctl net.{key}={value}"
            drift = "unknown key" if have is None else f"is {have}"
            write = partial(run_in_netns, target, partial(write_sysctl, key, value))
            self.change(owners, label, drift, write)

    # ------------------------------------------------------------ bridges

    def ensure_bridge(self, bridge: Bridge) -> None:
        host = self.session(None)
        users = plan.bridge_dependents(self.desired).get(bridge.name, set())
        current = host.link(bridge.name)
        if current is not None and current.kind != "bridge":
            self.host_error(f"{self.host_label}: {bridge.name!r} exists and is not a bridge", users)
            return
        if current is not None and current.alias not in (None, self.alias):
            self.host_error(f"bridge {bridge.name!r} belongs to {current.alias!r}", users)
            return
        if current is None:
            label = f"bridge {bridge.name!r}"
            add = partial(host.ipr.link, "add", ifname=bridge.name, kind="bridge")
            if not self.change(users, label, "absent", add, host=True):
                return
            current = host.reload_link(bridge.name)
            if current is None:
                return
        self.mark_and_up(host, current, users, f"bridge {bridge.name!r}")
        for port in bridge.ports:
            self.ensure_port(bridge, current.index, port, users)
        self.release_ports(bridge, current.index, users)

    def mark_and_up(self, host: NsView, link: KernelLink, owners: set[str], label: str) -> None:
        if link.alias != self.alias:
            mark = _link_set(host, link, ifalias=self.alias)
            self.change(owners, label, "not marked as ours", mark)
        if not link.up:
            self.change(owners, label, "down", _link_set(host, link, state="up"))

    def ensure_port(self, bridge: Bridge, index: int, port: str, users: set[str]) -> None:
        host = self.session(None)
        link = host.link(port)
        if link is None:
            self.host_error(f"device port {port!r} not found in {self.host_label}", users)
            return
        label = f"device port {port!r} of bridge {bridge.name!r}"
        if link.master != index:
            self.change(users, label, "not enslaved", _link_set(host, link, master=index))
        if not link.up:
            self.change(users, label, "down", _link_set(host, link, state="up"))
        if not link.running and not self.dry:
            self.change(users, label, "carrier not settled", partial(host.settle, port))

    def release_ports(self, bridge: Bridge, index: int, users: set[str]) -> None:
        host = self.session(None)
        keep = set(bridge.ports) | {e.ifname for e in self.host_ends() if e.master == bridge.name}
        for link in list(host.links().values()):
            if link.master == index and link.name not in keep:
                label = f"bridge {bridge.name!r}: port {link.name!r}"
                self.change(users, label, "not desired", _link_set(host, link, master=0))

    # ------------------------------------------------------------ links

    def ensure_link(self, link: VethLink, host_ok: bool) -> None:
        owners = plan.namespaces_of(link)
        if not self.link_possible(link, owners, host_ok):
            return
        ends = self.ensure_pair(link, owners)
        if ends is None:
            return
        fresh = [
            (end, session, found)
            for end, session, found in ends
            if self.configure_end(end, session, found, owners)
        ]
        if fresh and not self.dry:
            self.announce(ends, fresh, owners)

    def link_possible(self, link: VethLink, owners: set[str], host_ok: bool) -> bool:
        for end in (link.a, link.b):
            if end.netns is not None and end.netns not in self.present:
                label = plan.link_label(link)
                self.fail(owners - {end.netns}, f"{label}: namespace {end.netns!r} unavailable")
                return False
            if end.netns is None and not host_ok:
                return False
        return True

    def ensure_pair(self, link: VethLink, owners: set[str]) -> list[_End] | None:
        """The two ends as they are in the kernel, after (re)creating the pair if needed."""
        label = plan.link_label(link)
        try:
            sa, sb = self.session(link.a.netns), self.session(link.b.netns)
            ka, kb = sa.link(link.a.ifname), sb.link(link.b.ifname)
            if not plan.veth_pair_ok(ka, kb, link.a.netns == link.b.netns):
                self.refuse_foreign(link.a, ka)
                self.refuse_foreign(link.b, kb)
                drift = "absent" if ka is None and kb is None else "not a veth pair"
                if not self.change(owners, label, drift, partial(self.replace_pair, link, ka, kb)):
                    return None
                ka, kb = sa.reload_link(link.a.ifname), sb.reload_link(link.b.ifname)
        except Exception as exc:
            self.fail(owners, f"{label}: {kernel_words(exc)}")
            return None
        if ka is None or kb is None:
            self.fail(owners, f"{label}: vanished while being configured")
            return None
        return [(link.a, sa, ka), (link.b, sb, kb)]

    def announce(self, ends: list[_End], fresh: list[_End], owners: set[str]) -> None:
        """Make new or readdressed ends usable at once: settle the pair's carrier, then send
        gratuitous ARP so neighbours drop what they cached for a previous incarnation (a
        LAN host would otherwise keep sending to a dead MAC for half a minute)."""
        for end, session, _ in ends:
            settle = partial(session.settle, end.ifname)
            self.change(owners, plan.end_label(end), "carrier not settled", settle)
        for end, session, found in fresh:
            if end.addresses and found.mac:
                garp = partial(session.announce, end.ifname, found.mac, end.addresses)
                self.change(owners, plan.end_label(end), "not announced", garp)

    def refuse_foreign(self, end: LinkEnd, found: KernelLink | None) -> None:
        # a host interface we did not create (a device port, another host's link) is never
        # deleted to make room
        if end.netns is None and found is not None and found.alias != self.alias:
            raise Refused(f"host interface {end.ifname!r} exists and is not ours")

    def replace_pair(self, link: VethLink, ka: KernelLink | None, kb: KernelLink | None) -> None:
        sa, sb = self.session(link.a.netns), self.session(link.b.netns)
        for session, link_ in ((sa, ka), (sb, kb)):
            if link_ is not None:
                try:
                    kernel.del_link(session, link_.index)
                except NetlinkError as exc:
                    if exc.code != kernel.ENODEV:  # gone with its peer already
                        raise
                session.forget(link_.name)
        peer: dict[str, Any] = {"ifname": link.b.ifname}
        fd = None
        if link.b.netns != link.a.netns:
            fd = self.ns_fd(link.b.netns)
            peer["net_ns_fd"] = fd
        try:
            sa.ipr.link("add", ifname=link.a.ifname, kind="veth", peer=peer)
        finally:
            if fd is not None:
                os.close(fd)

    def configure_end(
        self, end: LinkEnd, session: NsView, link: KernelLink, owners: set[str]
    ) -> bool:
        """Bring one end to its desired state; True when it (re)entered service now."""
        label = plan.end_label(end)
        if end.netns is None and link.alias != self.alias:
            mark = _link_set(session, link, ifalias=self.alias)
            self.change(owners, label, "not marked as ours", mark)
        add, remove = plan.address_changes(end.addresses, session.addresses(link.index))
        for addr in remove:
            drop = partial(kernel.address, session, "del", link.index, addr)
            self.change(owners, f"{label}: address {addr}", "not desired", drop)
        for addr in add:
            put = partial(kernel.address, session, "add", link.index, addr)
            self.change(owners, f"{label}: address {addr}", "missing", put)
        self.ensure_master(end, session, link, owners)
        if not link.up:
            self.change(owners, label, "down", _link_set(session, link, state="up"))
        for key, value in plan.end_sysctls(end).items():
            if end.netns is None:
                self.host_sysctls[key] = (value, owners)
            else:
                self.ns_sysctls.setdefault(end.netns, {})[key] = value
        return bool(add) or not link.running

    def ensure_master(
        self, end: LinkEnd, session: NsView, link: KernelLink, owners: set[str]
    ) -> None:
        label = plan.end_label(end)
        want: int | None = None
        if end.master is not None:
            if end.netns is not None:
                self.fail(owners, f"{label}: master {end.master!r} needs a host-namespace end")
                return
            bridge = self.session(None).link(end.master)
            if bridge is None or bridge.kind != "bridge":
                self.fail(owners, f"{label}: bridge {end.master!r} not found")
                return
            want = bridge.index
        if link.master != want:
            drift = f"not enslaved to {end.master!r}" if end.master else "enslaved to a bridge"
            self.change(owners, label, drift, _link_set(session, link, master=want or 0))

    def finish_host(self) -> None:
        by_owners: dict[frozenset[str], dict[str, str]] = {}
        for key, (value, users) in self.host_sysctls.items():
            by_owners.setdefault(frozenset(users), {})[key] = value
        for owners, values in by_owners.items():
            self.sync_sysctls(None, sorted(owners), values)

    # ------------------------------------------------------------ inside a function

    def finish_namespace(self, ns: FunctionNamespace) -> None:
        session = self.session(ns.name)
        self.collect_links(ns, session)
        self.sync_sysctls(ns.name, [ns.name], self.ns_sysctls.get(ns.name, {}))
        self.ensure_routes(ns, session)
        self.ensure_nftables(ns)

    def collect_links(self, ns: FunctionNamespace, session: NsView) -> None:
        wanted = {e.ifname for e in plan.ends_by_namespace(self.desired).get(ns.name, [])}
        wanted |= self.tunnels.names_in(ns.name)
        for stale in plan.stale_links(list(session.links().values()), wanted):
            label = f"{ns.name}/{stale.name}"
            self.change(
                [ns.name], label, "not desired", partial(kernel.del_link, session, stale.index)
            )
            session.forget(stale.name)

    def ensure_routes(self, ns: FunctionNamespace, session: NsView) -> None:
        try:
            ifindex = {name: k.index for name, k in session.links().items()}
            existing = session.routes()
        except Exception as exc:
            self.fail([ns.name], f"routes: {kernel_words(exc)}")
            return
        replace, delete = plan.route_changes(ns.routes, ifindex, existing)
        for stale in delete:
            drop = partial(kernel.del_route, session, stale)
            self.change([ns.name], f"route {stale.dst}", "not desired", drop)
        for route in replace:
            label = plan.route_label(route)
            index = ifindex.get(route.dev)
            if index is None:
                self.fail([ns.name], f"{label}: device {route.dev!r} not found")
                continue
            put = partial(kernel.replace_route, session, route, index)
            self.change([ns.name], label, "missing", put)

    def ensure_nftables(self, ns: FunctionNamespace) -> None:
        ruleset = ns.nftables
        try:
            check = partial(kernel.nft_batch_if_changed, self.nft, ns.name, ruleset)
            batch = run_in_netns(ns.name, check)
        except Exception as exc:
            self.fail([ns.name], f"nftables: {kernel_words(exc)}")
            return
        if batch is None:
            return
        replace = partial(run_in_netns, ns.name, partial(kernel.nft_run, self.nft, ns.name, batch))
        self.change([ns.name], "nftables", "ruleset differs", replace)


def _link_set(session: NsView, link: KernelLink, **attrs: Any) -> Callable[[], object]:
    return partial(session.ipr.link, "set", index=link.index, **attrs)


class LinuxDriver:
    """Realises `HostDesiredState` documents on this Linux kernel.

    `host_netns` names the namespace that plays the host (device ports and bridges live
    there); None means the namespace this process runs in.
    """

    def __init__(self, host_netns: str | None = None) -> None:
        self.host_netns = host_netns
        self._lock = threading.Lock()
        self._nft = kernel.NftPool()

    def apply(self, desired: HostDesiredState) -> ObservedState:
        with self._lock:
            self._nft.retain(namespace_prefix(desired.host), {n.name for n in desired.namespaces})
            return _Pass(desired, self.host_netns, self._nft, dry=False).run()

    def observe(self, desired: HostDesiredState) -> ObservedState:
        with self._lock:
            return _Pass(desired, self.host_netns, self._nft, dry=True).run()

    def telemetry(self, desired: HostDesiredState) -> HostTelemetry:
        with self._lock:
            return read_telemetry(desired, self._nft)

    def close(self) -> None:
        """Release the nftables contexts kept open between passes."""
        with self._lock:
            self._nft.close()


register_driver("linux")(LinuxDriver)
