"""The kernel side of the Linux driver: a cached netlink view of one namespace, and the
few kernel operations the reconciliation performs (all decisions live in `plan`)."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
import zlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from cloudcpe.nfvi.linux import plan
from cloudcpe.nfvi.linux.netns import (
    NETNS_RUN_DIR,
    netns_socket,
    open_iproute,
    read_sysctl,
    remove_netns,
)
from cloudcpe.nfvi.linux.nft import Nft, NftError
from cloudcpe.nfvi.linux.plan import KernelLink, KernelRoute
from cloudcpe.nfvi.model import PREFIX, NftRuleset, Route

_IFF_UP = 0x1
_IFF_RUNNING = 0x40
_SIOCETHTOOL = 0x8946
_ETHTOOL_GLINK = 0x0000000A
_RTNH_F_ONLINK = 0x4
_RTN_UNICAST = 1
ENODEV = 19
_RT_SCOPE_NOWHERE = 255
_AF_INET = 2


class Refused(Exception):
    """A document asks for something the driver will not do (e.g. take over a foreign link)."""


def kernel_words(exc: BaseException) -> str:
    if isinstance(exc, NetlinkError):
        if len(exc.args) >= 2 and isinstance(exc.args[1], str):
            return exc.args[1]
        return os.strerror(exc.code)
    if isinstance(exc, NftError):
        return exc.text
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if not exc.filename else f"{exc.strerror} ({exc.filename})"
    if isinstance(exc, Refused):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class NsView:
    """The kernel view of one namespace (None: the caller's) during one pass: one netlink
    socket, cached dumps, and the ioctl/packet sockets made on first use."""

    def __init__(self, name: str | None) -> None:
        self.name = name
        self.ipr: Any = open_iproute(name)
        self._links: dict[str, KernelLink] | None = None
        self._addrs: dict[int, list[IPv4Interface]] | None = None
        self._ioctl: socket.socket | None = None
        self._packet: socket.socket | None = None

    def close(self) -> None:
        self.ipr.close()
        if self._ioctl is not None:
            self._ioctl.close()
        if self._packet is not None:
            # releasing a packet socket waits for an RCU grace period (10-20 ms here);
            # nothing depends on it being gone, so the pass does not wait for it
            threading.Thread(target=self._packet.close, name="ccpe-close", daemon=True).start()

    def settle(self, ifname: str) -> None:
        if self._ioctl is None:
            self._ioctl = netns_socket(self.name, socket.AF_INET, socket.SOCK_DGRAM)
        settle_carrier(self._ioctl, ifname)

    def announce(self, ifname: str, mac: str, addresses: Iterable[IPv4Interface]) -> None:
        """Send a gratuitous ARP for each address of `ifname`."""
        if self._packet is None:
            proto = socket.htons(plan.ETH_P_ARP)
            self._packet = netns_socket(self.name, socket.AF_PACKET, socket.SOCK_RAW, proto)
        for addr in addresses:
            self._packet.sendto(plan.gratuitous_arp(mac, addr.ip), (ifname, plan.ETH_P_ARP))

    def links(self) -> dict[str, KernelLink]:
        if self._links is None:
            self._links = {}
            for msg in self.ipr.get_links():
                link = kernel_link(msg)
                self._links[link.name] = link
        return self._links

    def link(self, name: str) -> KernelLink | None:
        return self.links().get(name)

    def reload_link(self, name: str) -> KernelLink | None:
        links = self.links()
        try:
            (msg,) = self.ipr.link("get", ifname=name)
        except NetlinkError as exc:
            if exc.code != ENODEV:
                raise
            links.pop(name, None)
            return None
        link = kernel_link(msg)
        links[name] = link
        return link

    def forget(self, name: str) -> None:
        self.links().pop(name, None)

    def addresses(self, index: int) -> list[IPv4Interface]:
        if self._addrs is None:
            self._addrs = {}
            for msg in self.ipr.get_addr(family=_AF_INET):
                local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                iface = IPv4Interface(f"{local}/{msg['prefixlen']}")
                self._addrs.setdefault(msg["index"], []).append(iface)
        return self._addrs.get(index, [])

    def forget_addresses(self) -> None:
        self._addrs = None

    def routes(self) -> list[KernelRoute]:
        routes = []
        for msg in self.ipr.get_routes(family=_AF_INET):
            table = msg.get_attr("RTA_TABLE") or msg["table"]
            if table != plan.MAIN_TABLE or msg["type"] != _RTN_UNICAST:
                continue
            dst = msg.get_attr("RTA_DST") or "0.0.0.0"
            gateway = msg.get_attr("RTA_GATEWAY")
            routes.append(
                KernelRoute(
                    dst=IPv4Network(f"{dst}/{msg['dst_len']}"),
                    oif=msg.get_attr("RTA_OIF"),
                    gateway=IPv4Address(gateway) if gateway else None,
                    onlink=bool(msg["flags"] & _RTNH_F_ONLINK),
                    proto=msg["proto"],
                    priority=msg.get_attr("RTA_PRIORITY") or 0,
                )
            )
        return routes


def settle_carrier(sock: socket.socket, ifname: str) -> None:
    """Have the kernel act on a pending carrier change of `ifname` now.

    Carrier changes are handled by the kernel's linkwatch worker, which runs at most once a
    second unless the event is urgent. A veth whose ifindex equals its peer's (common:
    fresh namespaces number their links from 2) is not urgent, and until the worker runs
    the end opened first keeps a queue that drops every packet and a bridge keeps it as a
    disabled port. Reading the link state through ethtool processes the event on the spot.
    """
    value = ctypes.create_string_buffer(struct.pack("II", _ETHTOOL_GLINK, 0))
    ifreq = struct.pack("16sP16x", ifname.encode(), ctypes.addressof(value))
    fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, ifreq)


def kernel_link(msg: Any) -> KernelLink:
    return KernelLink(
        index=msg["index"],
        name=msg.get_attr("IFLA_IFNAME"),
        kind=msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND"),
        peer_index=msg.get_attr("IFLA_LINK"),
        master=msg.get_attr("IFLA_MASTER"),
        up=bool(msg["flags"] & _IFF_UP),
        alias=msg.get_attr("IFLA_IFALIAS"),
        running=bool(msg["flags"] & _IFF_RUNNING),
        mac=msg.get_attr("IFLA_ADDRESS"),
    )


def del_link(session: NsView, index: int) -> None:
    session.ipr.link("del", index=index)


def del_links(ipr: Any, indexes: list[int], group: int) -> None:
    """Delete several links with one kernel teardown.

    Every unregistration waits for an RCU grace period (15-50 ms each here); deleting by
    device group pays it once. The group is first checked to hold only these links, so a
    colliding group id elsewhere in the namespace cannot cost anyone a device.
    """
    if len(indexes) == 1:
        _del_index(ipr, indexes[0])
        return
    for index in indexes:
        ipr.link("set", index=index, group=group)
    members = {m["index"] for m in ipr.get_links() if m.get_attr("IFLA_GROUP") == group}
    if members == set(indexes):
        ipr.link("del", index=0, group=group)
        return
    for index in indexes:
        _del_index(ipr, index)


def _del_index(ipr: Any, index: int) -> None:
    try:
        ipr.link("del", index=index)
    except NetlinkError as exc:
        if exc.code != ENODEV:  # went with its veth peer already
            raise


def teardown_group(key: str) -> int:
    """A device group id for batched deletion, stable per key, away from group 0."""
    return 0x63000000 | (zlib.crc32(key.encode()) & 0x00FFFFFF)


def address(session: NsView, command: str, index: int, addr: IPv4Interface) -> None:
    session.ipr.addr(command, index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen)


def replace_route(session: NsView, route: Route, index: int) -> None:
    spec: dict[str, Any] = {
        "dst": str(route.dst.network_address),
        "dst_len": route.dst.prefixlen,
        "oif": index,
        "table": plan.MAIN_TABLE,
        "proto": plan.RTPROT_STATIC,
    }
    if route.via is not None:
        spec["gateway"] = str(route.via)
    if route.onlink:
        spec["flags"] = _RTNH_F_ONLINK
    session.ipr.route("replace", **spec)


def del_route(session: NsView, route: KernelRoute) -> None:
    spec: dict[str, Any] = {
        "dst": str(route.dst.network_address),
        "dst_len": route.dst.prefixlen,
        "table": plan.MAIN_TABLE,
        "priority": route.priority,
        # the kernel matches the scope of a deleted route unless told "nowhere", as ip does
        "scope": _RT_SCOPE_NOWHERE,
    }
    if route.oif is not None:
        spec["oif"] = route.oif
    if route.gateway is not None:
        spec["gateway"] = str(route.gateway)
    session.ipr.route("del", **spec)


def read_sysctls(values: dict[str, str]) -> dict[str, str]:
    current = {}
    for key in values:
        with contextlib.suppress(FileNotFoundError):
            current[key] = read_sysctl(key)
    return current


class NftPool:
    """libnftables contexts kept open per namespace across passes.

    Closing the socket of a context that has just committed a transaction waits for the
    kernel to destroy the replaced objects (an RCU grace period: 5-15 ms here, more than
    the whole transaction), so contexts stay open while their namespace lives. Keyed by
    the namespace's inode too: a namespace recreated under the same name gets a new one.
    """

    def __init__(self) -> None:
        self._contexts: dict[str, tuple[int, Nft]] = {}

    def context(self, netns: str) -> Nft:
        """Call inside `netns`: a context talks to the namespace it was created in."""
        inode = os.stat(os.path.join(NETNS_RUN_DIR, netns)).st_ino
        cached = self._contexts.get(netns)
        if cached is not None and cached[0] == inode:
            return cached[1]
        self.discard(netns)
        nft = Nft()
        self._contexts[netns] = (inode, nft)
        return nft

    def discard(self, netns: str) -> None:
        cached = self._contexts.pop(netns, None)
        if cached is not None:
            cached[1].close()

    def retain(self, prefix: str, names: set[str]) -> None:
        """Drop the contexts of namespaces under `prefix` other than `names`."""
        for netns in [n for n in self._contexts if n.startswith(prefix) and n not in names]:
            self.discard(netns)

    def close(self) -> None:
        self.retain("", set())


def nft_batch_if_changed(
    pool: NftPool, netns: str, ruleset: NftRuleset | None
) -> list[dict[str, Any]] | None:
    """Runs inside `netns`: the batch that realises `ruleset`, or None when in place."""
    nft = pool.context(netns)
    existing = [(t["family"], t["name"]) for t in nft.list_tables()]
    fingerprints: dict[tuple[str, str], str | None] = {}
    wanted = set() if ruleset is None else {(f, n) for f, n in ruleset.tables}
    for family, name in existing:
        if (family, name) in wanted:
            fingerprints[(family, name)] = _table_fingerprint(nft, family, name)
    if plan.ruleset_in_place(ruleset, existing, fingerprints):
        return None
    return plan.nft_sync_batch(ruleset, existing)


def _table_fingerprint(nft: Nft, family: str, table: str) -> str | None:
    chain = {"family": family, "table": table, "name": plan.META_CHAIN}
    try:
        return plan.fingerprint_of(nft.run([{"list": {"chain": chain}}]))
    except NftError:
        return None


def nft_run(pool: NftPool, netns: str, batch: list[dict[str, Any]]) -> None:
    """Runs inside `netns`: one transaction."""
    pool.context(netns).run(batch)


def remove_namespace(name: str, group: int) -> None:
    # deleting our veths first makes their peers in other namespaces vanish now rather than
    # whenever the kernel gets round to dismantling the namespace
    ipr = open_iproute(name)
    try:
        ours = [kernel_link(m) for m in ipr.get_links()]
        indexes = [link.index for link in ours if link.name.startswith(PREFIX)]
        if indexes:
            del_links(ipr, indexes, group)
    finally:
        ipr.close()
    remove_netns(name)
