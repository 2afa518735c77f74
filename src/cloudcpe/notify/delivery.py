"""Background delivery of the outbox: POST each notification (JSON, with the subscription's
BASIC credentials) to its callback URI; a failure (no answer, or not 2xx) is retried with
exponential backoff (`base` seconds doubled per attempt, at most `cap`) up to `max_attempts`
times, after which the notification is FAILED (kept, with the last error)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import timedelta

from sqlalchemy import select, update

from cloudcpe.notify.models import Notification, Subscription
from cloudcpe.notify.service import TokenError, auth_headers
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work

log = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self,
        factory: SessionFactory,
        *,
        base: float = 1.0,
        cap: float = 60.0,
        max_attempts: int = 6,
        timeout: float = 5.0,
        poll_seconds: float = 0.2,
    ) -> None:
        self.factory = factory
        self.base, self.cap, self.max_attempts = base, cap, max_attempts
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ccpe-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # keep delivering; the rows hold the failures
                log.exception("notifier loop error")
            self._stop.wait(self.poll_seconds)

    def backoff(self, attempts: int) -> float:
        return float(min(self.base * 2 ** (attempts - 1), self.cap))

    def deliver_due(self) -> int:
        """Deliver every notification that is due, oldest first; how many were tried."""
        now = utcnow()
        with unit_of_work(self.factory) as s:
            due = s.execute(
                select(Notification, Subscription)
                .join(Subscription, Subscription.id == Notification.subscription_id)
                .where(Notification.state == "PENDING", Notification.next_attempt_at <= now)
                .order_by(Notification.created_at, Notification.id)
                .limit(50)
            ).all()
            work = []
            for n, sub in due:  # claim: nobody else tries it while this attempt runs
                won = s.execute(
                    update(Notification)
                    .where(
                        Notification.id == n.id, Notification.next_attempt_at == n.next_attempt_at
                    )
                    .values(next_attempt_at=now + timedelta(seconds=self.timeout * 2))
                    .execution_options(synchronize_session=False)
                )
                if won.rowcount == 1:  # type: ignore[attr-defined]
                    work.append((n.id, n.payload, sub.callback_uri, sub.authentication))
        for nid, payload, uri, auth in work:
            try:
                error = self._post(uri, payload, auth_headers(auth))
            except TokenError as exc:
                error = str(exc)
            with unit_of_work(self.factory) as s:
                row = s.get(Notification, nid)
                if row is None:
                    continue  # its subscription was deleted meanwhile
                row.attempts += 1
                if error is None:
                    row.state, row.last_error = "DELIVERED", None
                    continue
                row.last_error = error[:500]
                if row.attempts >= self.max_attempts:
                    row.state = "FAILED"
                    log.warning("notification %s to %s given up: %s", nid, uri, error)
                else:
                    delay = self.backoff(row.attempts)
                    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return len(work)

    def _post(self, uri: str, payload: object, headers: dict[str, str]) -> str | None:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            uri,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return None if 200 <= resp.status < 300 else f"answered {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"answered {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"not reached: {getattr(exc, 'reason', exc)}"
