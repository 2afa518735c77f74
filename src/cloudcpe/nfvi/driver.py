"""The narrow NFVI driver interface, and a registry drivers add themselves to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cloudcpe.nfvi.model import HostDesiredState, HostTelemetry, ObservedState


class NfviDriver(Protocol):
    """Realises the desired state of one host. `apply` is idempotent; an empty desired state
    removes every object of ours on the host."""

    def apply(self, desired: HostDesiredState) -> ObservedState: ...

    def observe(self, desired: HostDesiredState) -> ObservedState: ...

    def telemetry(self, desired: HostDesiredState) -> HostTelemetry:
        """The counters of the desired functions that exist (read only, never changes)."""
        ...


DriverFactory = Callable[..., NfviDriver]
_DRIVERS: dict[str, DriverFactory] = {}


def register_driver(name: str) -> Callable[[DriverFactory], DriverFactory]:
    def deco(factory: DriverFactory) -> DriverFactory:
        _DRIVERS[name] = factory
        return factory

    return deco


def get_driver(name: str, **options: object) -> NfviDriver:
    if name == "linux":
        import cloudcpe.nfvi.linux.driver  # noqa: F401  registers itself
    try:
        factory = _DRIVERS[name]
    except KeyError:
        raise LookupError(f"unknown NFVI driver {name!r}; known: {sorted(_DRIVERS)}") from None
    return factory(**options)
