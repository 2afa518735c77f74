"""Embedded hosts: the orchestrator realises desired state itself, through the NFVI driver,
for hosts simulated on this machine (one namespace per device) or for this machine."""

from __future__ import annotations

import threading
from collections import defaultdict

from cloudcpe.inventory.models import NfviHost
from cloudcpe.nfvi.driver import NfviDriver, get_driver
from cloudcpe.nfvi.model import HostDesiredState, ObservedState


class EmbeddedHosts:
    def __init__(self, driver_name: str = "linux") -> None:
        self._driver_name = driver_name
        self._drivers: dict[str | None, NfviDriver] = {}
        # one reconcile at a time per host; different hosts converge in parallel
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def _driver(self, netns: str | None) -> NfviDriver:
        if netns not in self._drivers:
            self._drivers[netns] = get_driver(self._driver_name, host_netns=netns)
        return self._drivers[netns]

    def converge(self, host: NfviHost, desired: HostDesiredState) -> ObservedState:
        with self._locks[host.host_key]:
            return self._driver(host.netns).apply(desired)
