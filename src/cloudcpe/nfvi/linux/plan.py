"""Pure decisions of the Linux driver: what differs between the kernel and the document.

Nothing here touches the kernel, so every rule about convergence (which address goes,
which route is ours, when a ruleset counts as unchanged) is unit-testable.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from cloudcpe.nfvi.model import PREFIX, HostDesiredState, LinkEnd, NftRuleset, Route, VethLink

# Routes with these protocols are ours to garbage-collect (static: what we install,
# boot: what `ip route add` installs). Connected (kernel) routes and routes of routing
# daemons running inside a function (zebra, bird, bgp, ...) are left alone.
RTPROT_BOOT = 3
RTPROT_STATIC = 4
MANAGED_ROUTE_PROTOS = frozenset({RTPROT_BOOT, RTPROT_STATIC})
MAIN_TABLE = 254
ETH_P_ARP = 0x0806

# nftables JSON in nft 1.0.6 drops table and chain comments, but keeps rule comments: the
# fingerprint of the applied ruleset lives in a rule of a never-jumped-to chain.
META_CHAIN = "ccpe_meta"
FINGERPRINT_TAG = "ccpe:fp="


def owner_alias(host: str) -> str:
    """The ifalias that marks host-namespace objects as created for `host`.

    Device ports are ccpe-named too (and other hosts may share a host namespace), so a
    name prefix alone cannot tell what this host may garbage-collect there.
    """
    return f"{PREFIX}-host:{host}"


@dataclass(frozen=True)
class KernelLink:
    index: int
    name: str
    kind: str | None
    peer_index: int | None
    master: int | None
    up: bool
    alias: str | None = None
    running: bool = True  # operationally up (IFF_RUNNING)
    mac: str | None = None


@dataclass(frozen=True)
class KernelRoute:
    dst: IPv4Network
    oif: int | None
    gateway: IPv4Address | None
    onlink: bool
    proto: int
    priority: int = 0


# ---------------------------------------------------------------- links


def veth_pair_ok(a: KernelLink | None, b: KernelLink | None, same_ns: bool) -> bool:
    """Whether two kernel links are the two ends of one veth pair."""
    if a is None or b is None or a.kind != "veth" or b.kind != "veth":
        return False
    if same_ns and a.index == b.index:
        return False
    return a.peer_index == b.index and b.peer_index == a.index


def ends_by_namespace(desired: HostDesiredState) -> dict[str | None, list[LinkEnd]]:
    ends: dict[str | None, list[LinkEnd]] = {}
    for link in desired.links:
        for end in (link.a, link.b):
            ends.setdefault(end.netns, []).append(end)
    return ends


def stale_links(
    existing: Iterable[KernelLink], wanted: set[str], alias: str | None = None
) -> list[KernelLink]:
    """Our links that the document no longer wants; with `alias`, only links marked by it."""
    return [
        link
        for link in existing
        if link.name.startswith(PREFIX)
        and link.name not in wanted
        and (alias is None or link.alias == alias)
    ]


def link_label(link: VethLink) -> str:
    return f"link {end_label(link.a)} <-> {end_label(link.b)}"


def end_label(end: LinkEnd) -> str:
    return f"{end.netns or 'host'}/{end.ifname}"


def namespaces_of(link: VethLink) -> set[str]:
    return {e.netns for e in (link.a, link.b) if e.netns is not None}


def bridge_dependents(desired: HostDesiredState) -> dict[str, set[str]]:
    """For each bridge, the function namespaces whose links hang on it."""
    deps: dict[str, set[str]] = {b.name: set() for b in desired.bridges}
    for link in desired.links:
        for end in (link.a, link.b):
            if end.master is not None:
                deps.setdefault(end.master, set()).update(namespaces_of(link))
    return deps


def gratuitous_arp(mac: str, ip: IPv4Address) -> bytes:
    """An Ethernet frame announcing that `ip` is at `mac` (an ARP request for itself)."""
    hw = bytes.fromhex(mac.replace(":", ""))
    ether = b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + ip.packed + b"\0" * 6 + ip.packed
    return ether + arp


# ---------------------------------------------------------------- addresses


def address_changes(
    desired: Iterable[IPv4Interface], existing: Iterable[IPv4Interface]
) -> tuple[list[IPv4Interface], list[IPv4Interface]]:
    """(to add, to remove), each in a stable order."""
    want = list(dict.fromkeys(desired))
    have = list(dict.fromkeys(existing))
    return [a for a in want if a not in have], [a for a in have if a not in want]


# ---------------------------------------------------------------- routes


def route_label(route: Route) -> str:
    dst = "default" if route.dst.prefixlen == 0 else str(route.dst)
    via = f" via {route.via}" if route.via is not None else ""
    onlink = " onlink" if route.onlink else ""
    return f"route {dst}{via} dev {route.dev}{onlink}"


def route_matches(route: Route, ifindex: int | None, kernel: KernelRoute) -> bool:
    return (
        kernel.dst == route.dst
        and kernel.oif == ifindex
        and kernel.gateway == route.via
        and kernel.onlink == route.onlink
    )


def route_changes(
    desired: Iterable[Route], ifindex: Mapping[str, int], existing: Iterable[KernelRoute]
) -> tuple[list[Route], list[KernelRoute]]:
    """(routes to replace, kernel routes to delete).

    A desired route is in place when a main-table route to the same destination already
    has its device, gateway and onlink flag, whatever its protocol. Our stale routes are
    the managed-protocol routes to destinations the document does not name.
    """
    have = list(existing)
    want = list(desired)
    replace = [r for r in want if not any(route_matches(r, ifindex.get(r.dev), k) for k in have)]
    wanted_dsts = {r.dst for r in want}
    delete = [k for k in have if k.proto in MANAGED_ROUTE_PROTOS and k.dst not in wanted_dsts]
    return replace, delete


# ---------------------------------------------------------------- sysctls


def interface_of_sysctl(key: str) -> str | None:
    """The interface a dotted sysctl key is about (`ipv4.conf.ccpe-out.proxy_arp`), if any."""
    parts = key.split(".")
    if len(parts) >= 4 and parts[1] in ("conf", "neigh"):
        name = ".".join(parts[2:-1])
        return None if name in ("all", "default") else name
    return None


def split_sysctls(sysctls: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(namespace-wide keys, per-interface keys): the former are set before links exist,
    so `conf.default.*` reaches the interfaces created afterwards."""
    general = {k: v for k, v in sysctls.items() if interface_of_sysctl(k) is None}
    per_if = {k: v for k, v in sysctls.items() if interface_of_sysctl(k) is not None}
    return general, per_if


def end_sysctls(end: LinkEnd) -> dict[str, str]:
    if not end.proxy_arp:
        return {f"ipv4.conf.{end.ifname}.proxy_arp": "0"}
    # Linux delays each proxy-ARP answer by a random 0-800 ms (proxy_delay): a relic of
    # shared segments that only postpones the first packet of every new neighbour here.
    return {f"ipv4.conf.{end.ifname}.proxy_arp": "1", f"ipv4.neigh.{end.ifname}.proxy_delay": "0"}


# ---------------------------------------------------------------- nftables


def ruleset_fingerprint(ruleset: NftRuleset) -> str:
    canonical = json.dumps(ruleset.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def fingerprint_comment(ruleset: NftRuleset) -> str:
    return FINGERPRINT_TAG + ruleset_fingerprint(ruleset)


def ruleset_commands(ruleset: NftRuleset) -> list[dict[str, Any]]:
    """The commands creating our tables from nothing, fingerprint marker included."""
    comment = fingerprint_comment(ruleset)
    commands: list[dict[str, Any]] = []
    for family, name in ruleset.tables:
        commands.append({"add": {"table": {"family": family, "name": name}}})
        commands.append({"add": {"chain": {"family": family, "table": name, "name": META_CHAIN}}})
        commands.append(
            {
                "add": {
                    "rule": {
                        "family": family,
                        "table": name,
                        "chain": META_CHAIN,
                        "expr": [{"continue": None}],
                        "comment": comment,
                    }
                }
            }
        )
    commands.extend(ruleset.commands)
    return commands


def ruleset_in_place(
    ruleset: NftRuleset | None,
    existing: Iterable[tuple[str, str]],
    fingerprints: Mapping[tuple[str, str], str | None],
) -> bool:
    """Whether the kernel already holds exactly this ruleset (and no other table)."""
    have = set(existing)
    if ruleset is None:
        return not have
    want = {(family, name) for family, name in ruleset.tables}
    if have != want:
        return False
    comment = fingerprint_comment(ruleset)
    return all(fingerprints.get(t) == comment for t in want)


def nft_sync_batch(
    ruleset: NftRuleset | None, existing: Iterable[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One transaction replacing every table of the namespace by the desired ones.

    `add` before `delete` makes the delete valid whether or not the table exists, and the
    whole batch commits atomically: packets never see a namespace without its ruleset, and
    conntrack entries (which live outside the tables) keep established flows going.
    """
    want: list[tuple[str, str]] = [] if ruleset is None else list(ruleset.tables)
    batch: list[dict[str, Any]] = []
    for family, name in want:
        batch.append({"add": {"table": {"family": family, "name": name}}})
        batch.append({"delete": {"table": {"family": family, "name": name}}})
    for family, name in existing:
        if (family, name) not in want:
            batch.append({"delete": {"table": {"family": family, "name": name}}})
    if ruleset is not None:
        batch.extend(ruleset_commands(ruleset))
    return batch


def fingerprint_of(objects: Iterable[Mapping[str, Any]]) -> str | None:
    """The fingerprint comment found in a listing of our meta chain."""
    for obj in objects:
        rule = obj.get("rule")
        if isinstance(rule, Mapping):
            comment = rule.get("comment")
            if isinstance(comment, str) and comment.startswith(FINGERPRINT_TAG):
                return comment
    return None
