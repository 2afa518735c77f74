"""Small builders for nftables JSON commands shared by function kinds."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

Json = dict[str, Any]


def chain(
    family: str, table: str, name: str, *, hook: str, prio: int, policy: str, type_: str = "filter"
) -> Json:
    return {
        "add": {
            "chain": {
                "family": family,
                "table": table,
                "name": name,
                "type": type_,
                "hook": hook,
                "prio": prio,
                "policy": policy,
            }
        }
    }


def rule(
    family: str, table: str, chain_name: str, expr: list[Json], comment: str | None = None
) -> Json:
    body: Json = {"family": family, "table": table, "chain": chain_name, "expr": expr}
    if comment:
        body["comment"] = comment
    return {"add": {"rule": body}}


def match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def payload(protocol: str, field: str) -> Json:
    return {"payload": {"protocol": protocol, "field": field}}


def prefix(net: IPv4Network) -> Any:
    if net.prefixlen == 32:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def ct_state(*states: str) -> Json:
    return match({"ct": {"key": "state"}}, list(states), op="in")


def counter() -> Json:
    return {"counter": None}


def verdict(name: str) -> Json:
    return {name: None}
