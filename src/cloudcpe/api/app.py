"""The application factory of `cloudcpe serve`: API + (by default) an LCM worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cloudcpe import __version__
from cloudcpe.agent.board import DocumentPoller, SeenHosts, VersionBoard
from cloudcpe.agent.protocol import PATH as AGENT_PATH
from cloudcpe.api import errors, sol005
from cloudcpe.api.agent import router as agent_api
from cloudcpe.api.product import catalog, designs, inventory, lcm, oauth2, pops, users
from cloudcpe.catalog.storage import CatalogConfig
from cloudcpe.config import Settings
from cloudcpe.lcm.engine import Worker
from cloudcpe.lcm.hosts import HostGateway
from cloudcpe.notify.delivery import Notifier
from cloudcpe.portal import app as portal
from cloudcpe.store.db import SessionFactory

DESCRIPTION = """Cloud CPE orchestrator. Every endpoint needs `Authorization: Bearer <token>`
(create one with `cloudcpe token create`). Operator tokens see every tenant; a tenant token
sees only its tenant's objects (another tenant's id answers 404). Errors are
`application/problem+json`. Lifecycle operations answer 202 with a `Location` header to the
operation, whose `operation_state` moves PROCESSING -> COMPLETED (or FAILED_TEMP, then
retry / rollback / fail).

ETSI NFV-SOL005: VNF package management under `/vnfpkgm/v1`, NSD management under `/nsd/v1`
(onboarded NSDs are the same descriptors as `/api/v1/ns_descriptors`); `api_versions` of every
SOL005 API; errors there answer 400 (not 422) for a request that cannot be accepted."""


def create_app(
    factory: SessionFactory,
    hosts: HostGateway | None,
    *,
    run_worker: bool = True,
    lease_seconds: float = 30.0,
    settings: Settings | None = None,
    board: VersionBoard | None = None,
) -> FastAPI:
    """The API (product + agent), with an LCM worker unless `run_worker` is False. `board`
    is where agents' long-polls wait; pass the one an in-process gateway announces to."""
    settings = settings or Settings()
    board = board or VersionBoard()
    seen = SeenHosts()
    poller = DocumentPoller(factory, board, seen=seen)
    worker = (
        Worker(factory, hosts, lease_seconds=lease_seconds)
        if (run_worker and hosts is not None)
        else None
    )
    notifier = Notifier(factory, base=settings.notify_backoff) if run_worker else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        board.bind(asyncio.get_running_loop())
        polling = asyncio.create_task(poller.run(), name="ccpe-document-poller")
        if worker:
            worker.start()
        if notifier:
            notifier.start()
        try:
            yield
        finally:
            if notifier:
                notifier.stop()
            if worker:
                worker.stop()
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            board.bind(None)

    app = FastAPI(title="cloudcpe", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.session_factory = factory
    app.state.worker = worker
    app.state.notifier = notifier
    app.state.catalog = CatalogConfig.from_settings(settings)
    app.state.sol005_page_size = settings.sol005_page_size
    app.state.settings = settings
    app.state.board = board
    app.state.seen_hosts = seen
    errors.install(app)
    for module in (inventory, pops, catalog, designs, lcm, users, oauth2):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(agent_api.router, prefix=AGENT_PATH)
    app.include_router(oauth2.token_router)
    sol005.install(app)
    portal.install(app)
    return app
