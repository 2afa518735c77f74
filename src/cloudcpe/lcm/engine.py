"""The LCM worker: claims operations with a lease and runs their steps.

An operation is claimed by setting a lease owner and expiry in a guarded UPDATE, so several
workers (threads or processes, on one database) never run the same operation, and an
operation whose worker died is taken over once its lease expires.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import or_, select, update

from cloudcpe.lcm import notifications
from cloudcpe.lcm.hosts import HostGateway
from cloudcpe.lcm.models import LcmOperation, NsInstance
from cloudcpe.lcm.workflows import StepContext, StepFailed, Workflow, workflow_of
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work

log = logging.getLogger(__name__)
RUNNABLE = ("PROCESSING", "ROLLING_BACK")


class Worker:
    def __init__(
        self,
        factory: SessionFactory,
        hosts: HostGateway,
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.factory = factory
        self.hosts = hosts
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running in the background -------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ccpe-lcm-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wakeup.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # keep serving; the operation row holds the failure
                log.exception("worker loop error")
            self._wakeup.wait(self.poll_seconds)
            self._wakeup.clear()

    # -- one pass ---------------------------------------------------------------------------
    def run_pending(self) -> int:
        """Run every claimable operation; returns how many were run."""
        count = 0
        while (op_id := self.claim()) is not None:
            self.run(op_id)
            count += 1
        return count

    def claim(self) -> str | None:
        now = utcnow()
        with unit_of_work(self.factory) as s:
            candidates = s.scalars(
                select(LcmOperation.id)
                .where(
                    LcmOperation.operation_state.in_(RUNNABLE),
                    or_(
                        LcmOperation.lease_expires_at.is_(None), LcmOperation.lease_expires_at < now
                    ),
                )
                .order_by(LcmOperation.start_time)
                .limit(5)
            ).all()
            for op_id in candidates:
                won = s.execute(
                    update(LcmOperation)
                    .where(
                        LcmOperation.id == op_id,
                        LcmOperation.operation_state.in_(RUNNABLE),
                        or_(
                            LcmOperation.lease_expires_at.is_(None),
                            LcmOperation.lease_expires_at < now,
                        ),
                    )
                    .values(lease_owner=self.name, lease_expires_at=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
                if won.rowcount == 1:  # type: ignore[attr-defined]
                    return op_id
        return None

    def run(self, op_id: str) -> None:
        ctx = StepContext(self.factory, self.hosts, op_id)
        while True:
            with unit_of_work(self.factory) as s:
                op = s.get_one(LcmOperation, op_id)
                if op.lease_owner != self.name:
                    log.warning("operation %s: lease lost to %s; stopping", op_id, op.lease_owner)
                    return
                if op.is_cancel_pending:  # SOL005 cancel: stop at this step boundary
                    self._cancelled(op)
                    notifications.operation(s, op)
                    return
                workflow, prefix = workflow_of(op)
                pending = [(n, f) for n, f in workflow.steps if prefix + n not in op.steps_done]
                if not pending:
                    self._complete(op, s.get_one(NsInstance, op.ns_instance_id), workflow)
                    notifications.operation(s, op)
                    return
                name, step = pending[0]
                op.current_step = prefix + name
                op.lease_expires_at = utcnow() + self.lease
            try:
                with self._lease_kept(op_id):
                    step(ctx)
            except Exception as exc:
                self._fail(op_id, prefix + name, exc)
                return
            with unit_of_work(self.factory) as s:
                op = s.get_one(LcmOperation, op_id)
                if op.lease_owner != self.name:
                    log.warning("operation %s: lease lost to %s; stopping", op_id, op.lease_owner)
                    return
                op.steps_done = [*op.steps_done, prefix + name]

    @contextlib.contextmanager
    def _lease_kept(self, op_id: str) -> Iterator[None]:
        """Renew the lease while a step runs (a step may wait long for a host), so that no
        other worker takes over the operation of a live worker."""
        done = threading.Event()
        interval = self.lease.total_seconds() / 3

        def keep() -> None:
            while not done.wait(interval):
                try:
                    if not self.renew(op_id):
                        return  # taken over or resolved: nothing more to keep
                except Exception:  # the database may be away for a moment; try again
                    log.warning("renewing the lease of operation %s failed", op_id, exc_info=True)

        keeper = threading.Thread(target=keep, name="ccpe-lease", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def renew(self, op_id: str) -> bool:
        """Push this worker's lease on `op_id` forward; False when it no longer holds it."""
        with unit_of_work(self.factory) as s:
            renewed = s.execute(
                update(LcmOperation)
                .where(LcmOperation.id == op_id, LcmOperation.lease_owner == self.name)
                .values(lease_expires_at=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )
        return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]

    def _complete(self, op: LcmOperation, ns: NsInstance, workflow: Workflow) -> None:
        if workflow.ns_state_after:
            ns.ns_state = workflow.ns_state_after
        op.operation_state = workflow.final_state
        op.state_entered_time = utcnow()
        op.current_step = None
        op.lease_owner = op.lease_expires_at = None
        log.info("operation %s %s -> %s", op.id, op.operation, op.operation_state)

    def _cancelled(self, op: LcmOperation) -> None:
        done = ", ".join(op.steps_done) or "none"
        op.operation_state = "FAILED_TEMP"
        op.state_entered_time = utcnow()
        op.is_cancel_pending = False
        op.error = {
            "status": 409,
            "title": "cancelled",
            "detail": f"the operation was cancelled ({op.cancel_mode or 'GRACEFUL'}) at a step "
            f"boundary; steps done: {done}",
        }
        op.current_step = None
        op.lease_owner = op.lease_expires_at = None
        log.info("operation %s cancelled: FAILED_TEMP", op.id)

    def _fail(self, op_id: str, step: str, exc: Exception) -> None:
        if not isinstance(exc, StepFailed):
            log.exception("step %s of operation %s raised", step, op_id)
        with unit_of_work(self.factory) as s:
            op = s.get_one(LcmOperation, op_id)
            if op.lease_owner != self.name:
                log.warning("operation %s: lease lost to %s; not failing it", op_id, op.lease_owner)
                return
            op.operation_state = "FAILED_TEMP"
            op.state_entered_time = utcnow()
            op.error = {"status": 500, "title": f"step {step!r} failed", "detail": str(exc)}
            op.lease_owner = op.lease_expires_at = None
            notifications.operation(s, op)
        log.warning("operation %s FAILED_TEMP at %s: %s", op_id, step, exc)
