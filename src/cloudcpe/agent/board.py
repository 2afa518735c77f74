"""Long-poll plumbing of one API process: who is waiting, and who wakes them.

`VersionBoard` keeps one waiter slot per host (however many requests of that host wait) and
wakes it when the host's desired version changes. Changes reach it two ways:
- `DocumentPoller`: one background task per API process reads which documents changed since
  its last look (every ~200 ms, one query for all hosts, none while nobody waits), so a
  change made by another process (an LCM worker) wakes the waiting agents;
- `notify_threadsafe`: an LCM worker in this very process announces a new version at once.
The poller also writes, every few seconds and in one statement, when each calling host was
last seen (`SeenHosts`), so that a long-poll costs no database write.

Waiting costs no thread and no database connection: an asyncio event per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import func, select

from cloudcpe.inventory.enrolment import mark_seen
from cloudcpe.lcm.models import HostDocument
from cloudcpe.store.base import as_utc
from cloudcpe.store.db import SessionFactory, unit_of_work

log = logging.getLogger(__name__)
T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


Document = dict[str, Any]  # a desired state document (JSON), as sent to its agent


@dataclass
class _Notice:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    document: Document | None = None  # the new document, when the notifier had it at hand


@dataclass
class _Slot:
    notice: _Notice = field(default_factory=_Notice)
    waiters: int = 0


class Watch:
    """A registration on one host's slot; `changed()` waits for the next notification after
    the registration (or after the previous `changed()`), so none is ever missed."""

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot
        self._notice = slot.notice
        self.document: Document | None = None

    async def changed(self, timeout: float) -> bool:
        """True when notified within `timeout` seconds; `document` is then the document that
        came with the notification (None: read it yourself)."""
        if timeout <= 0:
            return False
        try:
            await asyncio.wait_for(self._notice.event.wait(), timeout)
        except TimeoutError:
            return False
        self.document = self._notice.document
        self._notice = self._slot.notice  # the next notification sets a fresh one
        return True


class VersionBoard:
    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The event loop `notify_threadsafe` hands notifications to (None: unbound)."""
        self._loop = loop

    @contextlib.asynccontextmanager
    async def watch(self, host_id: str) -> AsyncIterator[Watch]:
        slot = self._slots.get(host_id)
        if slot is None:
            slot = self._slots[host_id] = _Slot()
        slot.waiters += 1
        try:
            yield Watch(slot)
        finally:
            slot.waiters -= 1
            if slot.waiters == 0 and self._slots.get(host_id) is slot:
                del self._slots[host_id]

    def watched(self) -> set[str]:
        return set(self._slots)

    def waiting(self) -> int:
        return sum(s.waiters for s in self._slots.values())

    def notify(self, host_id: str, document: Document | None = None) -> None:
        """Wake whoever waits for `host_id` (call on the event loop), handing them the new
        `document` when known: a thousand agents woken at once then cost no read each."""
        slot = self._slots.get(host_id)
        if slot is not None:
            notice, slot.notice = slot.notice, _Notice()
            notice.document = document
            notice.event.set()

    def notify_threadsafe(self, host_id: str, version: int) -> None:
        """From any thread (an LCM worker): `host_id` has desired version `version` now."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.notify, host_id)


class SeenHosts:
    """Hosts whose agents called since the last flush: their last_seen_at is written in one
    statement every few seconds rather than by every request (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hosts: set[str] = set()

    def add(self, host_id: str) -> None:
        with self._lock:
            self._hosts.add(host_id)

    def flush(self, factory: SessionFactory) -> int:
        with self._lock:
            hosts, self._hosts = self._hosts, set()
        ids = sorted(hosts)
        for i in range(0, len(ids), 500):
            with unit_of_work(factory) as s:
                mark_seen(s, ids[i : i + 500])
        return len(ids)


class DocumentPoller:
    """Finds documents changed since the last look and wakes their hosts' waiters.

    It looks at `updated_at >= newest seen - overlap`: a transaction that commits late, or a
    worker whose clock is a little behind, is still seen; versions already seen are not
    announced twice. Worker clocks must agree within `overlap` (NTP); a change missed anyway
    costs one long-poll period, never correctness (each poll reads the database first).
    """

    def __init__(
        self,
        factory: SessionFactory,
        board: VersionBoard,
        interval: float = 0.2,
        overlap: timedelta = timedelta(seconds=10),
        seen: SeenHosts | None = None,
        seen_interval: float = 2.0,
    ) -> None:
        self.factory = factory
        self.board = board
        self.interval = interval
        self.overlap = overlap
        self.seen = seen or SeenHosts()
        self.seen_interval = seen_interval
        self._newest: datetime | None = None
        self._seen: dict[str, tuple[int, datetime]] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_flush = loop.time() + self.seen_interval
        while True:
            try:
                watched = self.board.watched()
                if watched:
                    for host_id, document in await to_thread.run_sync(self.look, watched):
                        self.board.notify(host_id, document)
                if loop.time() >= next_flush:
                    next_flush = loop.time() + self.seen_interval
                    await to_thread.run_sync(self.seen.flush, self.factory)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # the last calls seen, on shutdown
                    await asyncio.shield(to_thread.run_sync(self.seen.flush, self.factory))
                raise
            except Exception:  # the database may be away for a moment; keep looking
                log.warning("looking for changed documents failed", exc_info=True)
            await asyncio.sleep(self.interval)

    def look(self, watched: set[str]) -> list[tuple[str, Document]]:
        """The changed documents of the hosts in `watched`, read in one go."""
        hosts = [h for h in self.changed() if h in watched]
        found = []
        for i in range(0, len(hosts), 500):
            with self.factory() as s:
                rows = s.execute(
                    select(HostDocument.host_id, HostDocument.version, HostDocument.desired).where(
                        HostDocument.host_id.in_(hosts[i : i + 500])
                    )
                ).all()
            found += [(h, {**(d or {}), "version": v}) for h, v, d in rows if d]
        return found

    def changed(self) -> list[str]:
        """One look: the hosts whose desired version changed since the last one. The first
        look announces the recent changes too (a spurious wake-up costs one read)."""
        with self.factory() as s:
            if self._newest is None:
                newest = s.scalar(select(func.max(HostDocument.updated_at)))
                self._newest = as_utc(newest) if newest is not None else _EPOCH
            since = self._newest - self.overlap
            rows = s.execute(
                select(HostDocument.host_id, HostDocument.version, HostDocument.updated_at).where(
                    HostDocument.updated_at >= since
                )
            ).all()
        changed = []
        for host_id, version, updated_at in rows:
            at = as_utc(updated_at)
            seen = self._seen.get(host_id)
            if seen is None or seen[0] != version:
                changed.append(host_id)
            self._seen[host_id] = (version, at)
            self._newest = max(self._newest, at)
        self._seen = {h: v for h, v in self._seen.items() if v[1] >= since}
        return changed


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking (database) work off the event loop."""
    return await to_thread.run_sync(fn)
