"""Read the counters of a host's functions: interface statistics and nftables rule counters.

Read only: nothing here changes the kernel. A function whose namespace is missing is left
out (the observed state says why it is absent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from cloudcpe.nfvi.linux.kernel import NftPool
from cloudcpe.nfvi.linux.netns import list_netns, open_iproute, run_in_netns
from cloudcpe.nfvi.model import (
    FunctionNamespace,
    FunctionTelemetry,
    HostDesiredState,
    HostTelemetry,
    InterfaceCounters,
    RuleCounter,
)

_STATS = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped")


def read_host(desired: HostDesiredState, pool: NftPool) -> HostTelemetry:
    existing = set(list_netns())
    functions = [_read_function(ns, pool) for ns in desired.namespaces if ns.name in existing]
    return HostTelemetry(host=desired.host, at=datetime.now(UTC), functions=functions)


def _read_function(ns: FunctionNamespace, pool: NftPool) -> FunctionTelemetry:
    try:
        interfaces = _interfaces(ns.name)
    except OSError:  # the namespace went away between the listing and now
        interfaces = []
    rules: list[RuleCounter] = []
    if ns.nftables is not None and ns.nftables.tables:
        tables = [(str(f), str(n)) for f, n in ns.nftables.tables]
        try:
            rules = run_in_netns(ns.name, partial(_rule_counters, pool, ns.name, tables))
        except Exception:  # counters are best effort; the observed state reports failures
            rules = []
    return FunctionTelemetry(owner=ns.owner, namespace=ns.name, interfaces=interfaces, rules=rules)


def _interfaces(netns: str) -> list[InterfaceCounters]:
    ipr = open_iproute(netns)
    try:
        out = []
        for msg in ipr.get_links():
            name = msg.get_attr("IFLA_IFNAME")
            stats = msg.get_attr("IFLA_STATS64")
            if name == "lo" or stats is None:
                continue
            out.append(InterfaceCounters(ifname=name, **{k: int(stats[k]) for k in _STATS}))
        return out
    finally:
        ipr.close()


def _rule_counters(pool: NftPool, netns: str, tables: list[tuple[str, str]]) -> list[RuleCounter]:
    """Runs inside `netns`."""
    nft = pool.context(netns)
    listing = [{"list": {"table": {"family": f, "name": n}}} for f, n in tables]
    out = []
    for obj in nft.run(listing):
        rule = obj.get("rule")
        if rule is None:
            continue
        counter = _counter_of(rule.get("expr", []))
        if counter is None:
            continue
        out.append(
            RuleCounter(
                table=f"{rule['family']} {rule['table']}",
                chain=rule["chain"],
                handle=int(rule["handle"]),
                comment=rule.get("comment"),
                packets=int(counter.get("packets", 0)),
                bytes=int(counter.get("bytes", 0)),
            )
        )
    return out


def _counter_of(expr: list[dict[str, Any]]) -> dict[str, Any] | None:
    for statement in expr:
        if "counter" in statement and isinstance(statement["counter"], dict):
            found: dict[str, Any] = statement["counter"]
            return found
    return None
