"""HTML forms <-> the domain's input: the firewall rules table, JSON fields, and mapping
the domain's field errors back to the form fields they belong to."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import FormData

from cloudcpe.errors import FieldError, Invalid

PROTOCOLS = ("any", "tcp", "udp", "icmp")
RULE_FIELDS = ("action", "protocol", "src", "dst", "dst_ports", "description")


def rule_rows(rules: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rules as the table shows them (every value a string)."""
    rows = []
    for r in rules:
        rows.append(
            {
                "action": str(r.get("action", "allow")),
                "protocol": str(r.get("protocol", "any")),
                "src": str(r.get("src") or ""),
                "dst": str(r.get("dst") or ""),
                "dst_ports": ", ".join(str(p) for p in r.get("dst_ports") or []),
                "description": str(r.get("description") or ""),
            }
        )
    return rows


def _ports(text: str) -> list[int | str]:
    out: list[int | str] = []
    for part in text.replace(" ", "").split(","):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return out


def parse_rules(form: FormData, prefix: str = "") -> tuple[list[dict[str, Any]], str]:
    """The rules table's columns (one value per row) -> the firewall's `rules` parameter."""
    columns = {f: [str(v) for v in form.getlist(prefix + f)] for f in RULE_FIELDS}
    rules = []
    for i in range(len(columns["action"])):
        cell = {f: (columns[f][i].strip() if i < len(columns[f]) else "") for f in RULE_FIELDS}
        rule: dict[str, Any] = {"action": cell["action"], "protocol": cell["protocol"] or "any"}
        for key in ("src", "dst"):
            if cell[key]:
                rule[key] = cell[key]
        if cell["dst_ports"]:
            rule["dst_ports"] = _ports(cell["dst_ports"])
        if cell["description"]:
            rule["description"] = cell["description"]
        rules.append(rule)
    return rules, str(form.get(prefix + "default_action") or "deny")


def rule_errors(
    exc: Invalid, vnf: str, prefix: tuple[str, ...] = ("body", "vnf_params")
) -> dict[str, str]:
    """{"0.src": msg, "1._row": msg, "_": msg}: where each error goes in the rules table."""
    out: dict[str, str] = {}
    for e in exc.errors:
        loc = e.loc
        head = [*prefix, vnf, "rules"]
        if loc[: len(head)] == head and len(loc) > len(head):
            index = loc[len(head)]
            field = str(loc[len(head) + 1]) if len(loc) > len(head) + 1 else "_row"
            out.setdefault(f"{index}.{field}", e.msg)
        else:
            out.setdefault("_", f"{FieldError(loc[1:], e.msg).path()}: {e.msg}")
    return out


def parse_json(text: str, loc: list[str | int]) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise Invalid.at(loc, f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
