"""Router: static routes inside the chain's routing hop."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudcpe.functions.base import (
    OUT_IF,
    FunctionContext,
    FunctionKind,
    Realisation,
    register,
)
from cloudcpe.nfvi.model import Route


class StaticRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: IPv4Network = Field(description="destination prefix, e.g. 10.20.0.0/16")
    via: IPv4Address = Field(description="next hop; must be on a subnet the router is attached to")


class RouterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routes: list[StaticRoute] = Field(default_factory=list, max_length=1000)

    @field_validator("routes")
    @classmethod
    def _unique(cls, v: list[StaticRoute]) -> list[StaticRoute]:
        seen: set[IPv4Network] = set()
        for r in v:
            if r.prefix in seen:
                raise ValueError(f"duplicate route for {r.prefix}")
            seen.add(r.prefix)
        return v


@register
class Router(FunctionKind):
    name = "router"
    description = "Routing hop with static routes"
    Params = RouterParams

    def realise(self, params: Any, ctx: FunctionContext) -> Realisation:
        p: RouterParams = params
        return Realisation(routes=[_route(r, ctx) for r in p.routes])


def _route(r: StaticRoute, ctx: FunctionContext) -> Route:
    """Through the side whose subnet holds the next hop; otherwise the WAN side, where the
    kernel rejects an unreachable next hop and the function reports that reason."""
    if r.via in ctx.in_address.network:
        return Route(dst=r.prefix, via=r.via, dev=ctx.in_ifname)
    # The last function's WAN end carries no address when an earlier function owns the
    # public address (it answers ARP for it instead): WAN next hops are on-link there.
    wan_unnumbered = ctx.out_address is None and ctx.position == ctx.chain_length - 1
    onlink = wan_unnumbered and r.via in ctx.wan_address.network
    return Route(dst=r.prefix, via=r.via, dev=OUT_IF, onlink=onlink)
