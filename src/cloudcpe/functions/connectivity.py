"""Connectivity only: a routed hop with its connection points wired, and no filtering.

This is how a VDU that is none of our functions is realised (a third-party VNF from an
SOL001 package): its namespace forwards and routes like every chain hop, so the service
still instantiates, carries traffic, and its connection points answer ping.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from cloudcpe.functions.base import FunctionContext, FunctionKind, Realisation, register


class ConnectivityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register
class Connectivity(FunctionKind):
    name = "connectivity"
    description = "Routed hop only (forwards, no filtering): stands in for third-party VDUs"
    Params = ConnectivityParams

    def realise(self, params: Any, ctx: FunctionContext) -> Realisation:
        return Realisation()
