"""How an LCM step reaches agent-managed hosts, and the gateway that picks embedded or agent.

An agent pulls its desired state itself (the document is in the database once rendered), so
delivering means waiting: `AgentHosts.converge` returns once the host has reported an
observation for the version (or a newer one), or fails the step after a timeout with the
reason an operator needs (which host, which version, when it was last seen).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cloudcpe.inventory.models import NfviHost
from cloudcpe.lcm.hosts import HostGateway
from cloudcpe.lcm.models import HostDocument
from cloudcpe.lcm.workflows import StepFailed
from cloudcpe.nfvi.model import HostDesiredState, ObservedState
from cloudcpe.store.base import as_utc, utcnow
from cloudcpe.store.db import SessionFactory


class HostUnconfirmed(StepFailed):
    """The host did not report the version in time; its operation goes to FAILED_TEMP."""


class AgentHosts:
    def __init__(
        self,
        factory: SessionFactory,
        *,
        confirm_seconds: float = 30.0,
        poll_seconds: float = 0.1,
        announce: Callable[[str, int], None] | None = None,
    ) -> None:
        self.factory = factory
        self.confirm_seconds = confirm_seconds
        self.poll_seconds = poll_seconds
        # tells this process's long-poll waiters at once (others find out by polling)
        self.announce = announce

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState:
        if self.announce is not None:
            self.announce(host.id, desired.version)
        deadline = time.monotonic() + self.confirm_seconds
        while True:
            with self.factory() as s:
                doc = s.get(HostDocument, host.id)
                if (
                    doc is not None
                    and doc.observed
                    and (doc.observed_version or 0) >= (desired.version)
                ):
                    return ObservedState.model_validate(doc.observed)
                if time.monotonic() >= deadline:
                    raise HostUnconfirmed(self._late(s.get_one(NfviHost, host.id), doc, desired))
            time.sleep(self.poll_seconds)

    def _late(self, host: NfviHost, doc: HostDocument | None, desired: HostDesiredState) -> str:
        if host.last_seen_at is None:
            seen = "never seen: not activated yet" if host.activated_at is None else "never seen"
        else:
            ago = (utcnow() - as_utc(host.last_seen_at)).total_seconds()
            seen = f"last seen {ago:.0f} s ago, at {as_utc(host.last_seen_at):%Y-%m-%d %H:%M:%S}Z"
        confirmed = doc.observed_version if doc is not None else None
        if confirmed is not None:
            seen += f"; last confirmed version {confirmed}"
        return (
            f"host {host.name!r} did not confirm version {desired.version} "
            f"within {self.confirm_seconds:g} s ({seen})"
        )


class DispatchingHosts:
    """Embedded hosts are realised in-process; agent-managed ones by their own agent."""

    def __init__(self, embedded: HostGateway, agent: HostGateway) -> None:
        self.embedded = embedded
        self.agent = agent

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState:
        gateway = self.agent if host.management == "agent" else self.embedded
        return gateway.converge(host, desired)
