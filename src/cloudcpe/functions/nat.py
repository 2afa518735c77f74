"""Source NAT of the site's LAN to the site's public (WAN) address (nftables)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from cloudcpe.functions import nft
from cloudcpe.functions.base import OUT_IF, FunctionContext, FunctionKind, Realisation, register
from cloudcpe.nfvi.model import NftRuleset

FAMILY, TABLE = "ip", "ccpe"


class NatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register
class Nat(FunctionKind):
    name = "nat"
    description = "Source NAT of the LAN to the site's WAN address"
    Params = NatParams
    translates_to_public = True

    def realise(self, params: Any, ctx: FunctionContext) -> Realisation:
        public = str(ctx.public_address)
        cmds = [
            nft.chain(
                FAMILY,
                TABLE,
                "postrouting",
                hook="postrouting",
                prio=100,
                policy="accept",
                type_="nat",
            ),
            nft.rule(
                FAMILY,
                TABLE,
                "postrouting",
                [
                    nft.match({"meta": {"key": "oifname"}}, OUT_IF),
                    nft.match(nft.payload("ip", "saddr"), public, op="!="),
                    nft.counter(),
                    {"snat": {"addr": public}},
                ],
                comment="snat to site WAN address",
            ),
        ]
        return Realisation(nftables=NftRuleset(tables=[(FAMILY, TABLE)], commands=cmds))
