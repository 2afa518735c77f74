"""The application factory of `cloudcpe serve`: API + (by default) an LCM worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cloudcpe import __version__
from cloudcpe.api import errors, sol005
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
) -> FastAPI:
    settings = settings or Settings()
    worker = (
        Worker(factory, hosts, lease_seconds=lease_seconds)
        if (run_worker and hosts is not None)
        else None
    )
    notifier = Notifier(factory, base=settings.notify_backoff) if run_worker else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(title="cloudcpe", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.session_factory = factory
    app.state.worker = worker
    app.state.notifier = notifier
    app.state.catalog = CatalogConfig.from_settings(settings)
    app.state.sol005_page_size = settings.sol005_page_size
    errors.install(app)
    for module in (inventory, pops, catalog, designs, lcm, users, oauth2):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(oauth2.token_router)
    sol005.install(app)
    portal.install(app)
    return app
