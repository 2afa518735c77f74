"""Stateful firewall: ordered allow/deny rules on protocol, ports and prefixes (nftables)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudcpe.functions import nft
from cloudcpe.functions.base import FunctionContext, FunctionKind, Realisation, register
from cloudcpe.nfvi.model import NftRuleset

FAMILY, TABLE, CHAIN = "inet", "ccpe", "forward"


def _parse_port_spec(value: object) -> int | tuple[int, int]:
    """Accept 80, "80" or "8000-8080"."""
    text = str(value).strip()
    lo_text, sep, hi_text = text.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise ValueError(f"port {value!r} must be a number or a range like 8000-8080") from None
    if not (1 <= lo <= 65535 and 1 <= hi <= 65535) or hi < lo:
        raise ValueError(f"port {value!r} must be within 1-65535, low before high")
    return lo if lo == hi else (lo, hi)


class FirewallRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["allow", "deny"]
    protocol: Literal["any", "tcp", "udp", "icmp"] = "any"
    src: IPv4Network | None = Field(None, description="source prefix, e.g. 192.168.10.0/24")
    dst: IPv4Network | None = Field(None, description="destination prefix")
    dst_ports: list[int | str] = Field(default_factory=list, description='e.g. [80, "8000-8080"]')
    description: str = Field("", max_length=200)

    @field_validator("dst_ports")
    @classmethod
    def _ports(cls, v: list[int | str]) -> list[int | str]:
        for port in v:
            _parse_port_spec(port)
        return v

    @model_validator(mode="after")
    def _ports_need_l4(self) -> FirewallRule:
        if self.dst_ports and self.protocol not in ("tcp", "udp"):
            raise ValueError("dst_ports needs protocol tcp or udp")
        return self


class FirewallParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[FirewallRule] = Field(default_factory=list, max_length=1000)
    default_action: Literal["allow", "deny"] = "deny"


def _rule_expr(r: FirewallRule) -> list[dict[str, Any]]:
    expr: list[dict[str, Any]] = []
    if r.protocol != "any":
        expr.append(nft.match({"meta": {"key": "l4proto"}}, r.protocol))
    if r.src is not None:
        expr.append(nft.match(nft.payload("ip", "saddr"), nft.prefix(r.src)))
    if r.dst is not None:
        expr.append(nft.match(nft.payload("ip", "daddr"), nft.prefix(r.dst)))
    if r.dst_ports:
        ports = [_parse_port_spec(p) for p in r.dst_ports]
        right = [p if isinstance(p, int) else {"range": list(p)} for p in ports]
        expr.append(
            nft.match(
                nft.payload(r.protocol, "dport"), right[0] if len(right) == 1 else {"set": right}
            )
        )
    return expr


@register
class Firewall(FunctionKind):
    name = "firewall"
    description = "Stateful firewall: ordered allow/deny rules; established flows stay allowed"
    Params = FirewallParams

    def realise(self, params: Any, ctx: FunctionContext) -> Realisation:
        p: FirewallParams = params
        policy = "accept" if p.default_action == "allow" else "drop"
        cmds = [
            nft.chain(FAMILY, TABLE, CHAIN, hook="forward", prio=0, policy=policy),
            nft.rule(
                FAMILY,
                TABLE,
                CHAIN,
                [nft.ct_state("established", "related"), nft.verdict("accept")],
            ),
            nft.rule(FAMILY, TABLE, CHAIN, [nft.ct_state("invalid"), nft.verdict("drop")]),
        ]
        for i, r in enumerate(p.rules):
            verdict = "accept" if r.action == "allow" else "drop"
            cmds.append(
                nft.rule(
                    FAMILY,
                    TABLE,
                    CHAIN,
                    [*_rule_expr(r), nft.counter(), nft.verdict(verdict)],
                    comment=f"rule {i}",
                )
            )
        cmds.append(
            nft.rule(FAMILY, TABLE, CHAIN, [nft.counter(), nft.verdict(policy)], comment="default")
        )
        return Realisation(nftables=NftRuleset(tables=[(FAMILY, TABLE)], commands=cmds))
