"""One API process holds the long-polls of many agents and wakes them all when a worker (in
another process: here, a plain database write nobody announces) changes their documents."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy import update

from cloudcpe.api.app import create_app
from cloudcpe.inventory.models import Device, Site, Tenant
from cloudcpe.lcm.models import HostDocument
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work

AGENTS = 1000


def _fleet(factory: SessionFactory, n: int) -> list[str]:
    """n activated agent-managed devices (straight into the database); their credentials."""
    credentials = []
    with unit_of_work(factory) as s:
        tenant = Tenant(name="scale")
        s.add(tenant)
        s.flush()
        sites = [
            Site(
                tenant_id=tenant.id,
                name=f"s{i}",
                kind="on_premise",
                lan_prefix=f"10.{i // 256}.{i % 256}.0/24",
            )
            for i in range(n)
        ]
        s.add_all(sites)
        s.flush()
        for i, site in enumerate(sites):
            credential = f"ccpa_scale{i:06d}"
            key = f"k{i:07d}"
            device = Device(
                tenant_id=tenant.id,
                site_id=site.id,
                name=f"d{i}",
                serial=f"S{i}",
                host_key=key,
                wan_address="203.0.113.2/24",
                wan_gateway="203.0.113.1",
                management="agent",
                credential_hash=hashlib.sha256(credential.encode()).hexdigest(),
            )
            s.add(device)
            s.flush()
            empty = HostDesiredState(host=key).model_dump(mode="json")
            s.add(HostDocument(host_id=device.id, version=0, desired=empty))
            credentials.append(credential)
    return credentials


@pytest.fixture
def api(factory: SessionFactory) -> Iterator[tuple[int, object]]:
    """An API process's app served by uvicorn on a loopback port (no LCM worker)."""
    app = create_app(factory, None, run_worker=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield port, app
    server.should_exit = True
    thread.join(10)


def test_a_thousand_waiting_agents_are_all_answered_soon_after_a_change(
    factory: SessionFactory, api: tuple[int, object]
) -> None:
    credentials = _fleet(factory, AGENTS)
    port, app = api
    board = app.state.board  # type: ignore[attr-defined]

    async def poll(credential: str) -> tuple[int, float]:
        # a bare HTTP/1.1 client: the test measures the server, not a client library
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /agent/v1/desired?after=0&wait=30 HTTP/1.1\r\nHost: t\r\n"
            b"Authorization: Bearer " + credential.encode() + b"\r\n\r\n"
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        at = time.monotonic()
        writer.close()
        return status, at

    async def scenario() -> tuple[set[int], float, float]:
        start = time.monotonic()
        tasks = [asyncio.create_task(poll(c)) for c in credentials]
        while board.waiting() < AGENTS:
            assert time.monotonic() - start < 60, f"{board.waiting()} waiting"
            await asyncio.sleep(0.05)
        waiting_after = time.monotonic() - start
        changed = time.monotonic()
        with unit_of_work(factory) as s:  # as a worker in another process would
            s.execute(
                update(HostDocument).values(version=HostDocument.version + 1, updated_at=utcnow())
            )
        results = await asyncio.gather(*tasks)
        return {c for c, _ in results}, waiting_after, max(t for _, t in results) - changed

    statuses, waiting_after, answered_after = asyncio.run(scenario())
    print(
        f"{AGENTS} agents waiting after {waiting_after:.2f} s; all answered {answered_after:.2f} s"
    )
    assert statuses == {200}
    assert answered_after < 3.0
    assert len(board.watched()) == 0  # every slot went with its last waiter
