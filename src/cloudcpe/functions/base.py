"""The function-kind interface and registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from cloudcpe.nfvi.model import NftRuleset, Route

IN_IF = "ccpe-in"  # the connection point facing the LAN side of the chain
OUT_IF = "ccpe-out"  # the connection point facing the WAN side of the chain


@dataclass(frozen=True)
class FunctionContext:
    """Where a function instance sits: what its realisation may depend on."""

    position: int
    chain_length: int
    lan_prefix: IPv4Network
    wan_address: IPv4Interface  # the site's public address (on the device's WAN)
    in_address: IPv4Interface
    out_address: IPv4Interface | None  # None: the WAN-facing end carries no address
    in_ifname: str = IN_IF  # the LAN-facing connection point (a tunnel on cloud chains)

    @property
    def public_address(self) -> IPv4Address:
        return self.wan_address.ip


@dataclass
class Realisation:
    nftables: NftRuleset | None = None
    routes: list[Route] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)


class FunctionKind:
    """Base of every kind. Subclasses set `name`, `description`, `Params` and `realise`."""

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    # True when this kind translates the LAN to the site's public address: the chain routes
    # the public address back to it.
    translates_to_public: ClassVar[bool] = False

    def parse(self, params: dict[str, Any]) -> BaseModel:
        """Validate parameters; raises pydantic.ValidationError naming the bad field."""
        return self.Params.model_validate(params)

    def realise(self, params: BaseModel, ctx: FunctionContext) -> Realisation:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        return self.Params.model_json_schema()


_KINDS: dict[str, FunctionKind] = {}


def register(kind_cls: type[FunctionKind]) -> type[FunctionKind]:
    _KINDS[kind_cls.name] = kind_cls()
    return kind_cls


def get_kind(name: str) -> FunctionKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"unknown function {name!r}; known functions: {sorted(_KINDS)}") from None


def all_kinds() -> list[FunctionKind]:
    return [_KINDS[k] for k in sorted(_KINDS)]


__all__ = ["FunctionContext", "FunctionKind", "Realisation", "ValidationError"]
