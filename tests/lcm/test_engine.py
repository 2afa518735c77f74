"""The worker's lease: one worker per operation; a dead worker's operation is taken over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.inventory.models import Site, Tenant
from cloudcpe.lcm.engine import Worker
from cloudcpe.lcm.hosts import HostGateway
from cloudcpe.lcm.models import LcmOperation, NsInstance
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work


def _operation(factory: SessionFactory, **fields: Any) -> str:
    """A PROCESSING operation on a (shared) NS instance, with the given lease fields."""
    with unit_of_work(factory) as s:
        ns = s.scalar(select(NsInstance))
        if ns is None:
            tenant = Tenant(name="acme")
            nsd = NsDescriptor(name="x", chain=[{"name": "nat", "function": "nat"}])
            s.add_all([tenant, nsd])
            s.flush()
            site = Site(tenant_id=tenant.id, name="hq", kind="on_premise", lan_prefix="10.1.0.0/24")
            s.add(site)
            s.flush()
            ns = NsInstance(
                tenant_id=tenant.id, site_id=site.id, nsd_id=nsd.id, name="svc", key="abcdef"
            )
            s.add(ns)
            s.flush()
        op = LcmOperation(
            tenant_id=ns.tenant_id,
            ns_instance_id=ns.id,
            operation="INSTANTIATE",
            **{"operation_state": "PROCESSING", **fields},
        )
        s.add(op)
        s.flush()
        return op.id


def _owner(factory: SessionFactory, op_id: str) -> str | None:
    with unit_of_work(factory) as s:
        return s.get_one(LcmOperation, op_id).lease_owner


def test_a_leased_operation_is_not_claimed_twice(
    factory: SessionFactory, hosts: HostGateway
) -> None:
    op_id = _operation(factory)
    first, second = Worker(factory, hosts), Worker(factory, hosts)
    assert first.claim() == op_id
    assert second.claim() is None
    assert first.claim() is None  # a live lease also keeps its owner from claiming it again
    assert _owner(factory, op_id) == first.name


def test_an_expired_lease_is_taken_over_a_live_one_is_not(
    factory: SessionFactory, hosts: HostGateway
) -> None:
    dead = _operation(
        factory, lease_owner="dead-worker", lease_expires_at=utcnow() - timedelta(seconds=1)
    )
    alive = _operation(
        factory, lease_owner="alive-worker", lease_expires_at=utcnow() + timedelta(seconds=60)
    )
    worker = Worker(factory, hosts)
    assert worker.claim() == dead
    assert worker.claim() is None
    assert (_owner(factory, dead), _owner(factory, alive)) == (worker.name, "alive-worker")


def test_failed_temp_operations_wait_for_a_decision(
    factory: SessionFactory, hosts: HostGateway
) -> None:
    _operation(factory, operation_state="FAILED_TEMP")
    assert Worker(factory, hosts).claim() is None


class _SlowHosts:
    """A gateway whose hosts take `seconds` to converge (an agent that is slow to confirm)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def converge(self, host: Any, desired: Any) -> Any:
        import time

        from cloudcpe.nfvi.model import ObservedState

        time.sleep(self.seconds)
        return ObservedState(host=desired.host, version=desired.version)


def test_a_long_step_renews_the_lease_so_a_live_worker_keeps_its_operation(
    factory: SessionFactory,
) -> None:
    import threading

    op_id = _operation(factory)
    first = Worker(factory, _SlowHosts(3.0), lease_seconds=1.0)
    second = Worker(factory, _SlowHosts(0), lease_seconds=1.0)
    assert first.claim() == op_id
    with first._lease_kept(op_id):
        # a step three lease periods long: the other worker never gets the operation
        stolen = []
        for _ in range(6):
            threading.Event().wait(0.5)
            stolen.append(second.claim())
    assert stolen == [None] * 6
    assert _owner(factory, op_id) == first.name


def test_a_worker_that_lost_its_lease_records_nothing(factory: SessionFactory) -> None:
    op_id = _operation(factory)
    first = Worker(factory, _SlowHosts(0), lease_seconds=30.0)
    assert first.claim() == op_id
    with unit_of_work(factory) as s:  # another worker took over (the first was paused)
        s.get_one(LcmOperation, op_id).lease_owner = "other-worker"
    assert first.renew(op_id) is False
    first.run(op_id)
    with unit_of_work(factory) as s:
        op = s.get_one(LcmOperation, op_id)
        assert (op.lease_owner, op.steps_done, op.operation_state) == (
            "other-worker",
            [],
            "PROCESSING",
        )
