"""Function kinds: how each kind of network function is realised on a Linux NFVI host.

A kind is one small module that registers itself with its parameter schema and its
realisation (nftables rules, routes, sysctls). Adding a kind never touches the LCM.
"""

from cloudcpe.functions import (  # noqa: F401  (they register themselves)
    connectivity,
    firewall,
    nat,
    router,
)
from cloudcpe.functions.base import (
    FunctionContext,
    FunctionKind,
    Realisation,
    all_kinds,
    get_kind,
    register,
)

__all__ = [
    "FunctionContext",
    "FunctionKind",
    "Realisation",
    "all_kinds",
    "get_kind",
    "register",
]
