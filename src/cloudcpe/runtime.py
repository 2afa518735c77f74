"""Wiring of one orchestrator process: settings -> database -> hosts -> app and/or worker.

Roles (`cloudcpe serve --role`):
- `all`: the REST APIs and an LCM worker in one process (the embedded default);
- `api`: the REST APIs only (product API, agents' long-polls); no LCM worker;
- `worker`: an LCM worker only, no HTTP.
Several processes of any role share one PostgreSQL; operations are claimed with a lease,
so a dead worker's operation is taken over by another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI

from cloudcpe.agent.board import VersionBoard
from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.agent.gateway import AgentHosts, DispatchingHosts
from cloudcpe.api.app import create_app
from cloudcpe.config import Settings
from cloudcpe.lcm.engine import Worker
from cloudcpe.lcm.hosts import HostGateway
from cloudcpe.store.db import SessionFactory, make_engine, make_session_factory
from cloudcpe.store.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    factory: SessionFactory
    app: FastAPI


def host_gateway(
    settings: Settings, factory: SessionFactory, board: VersionBoard | None = None
) -> HostGateway:
    """Embedded hosts realised in-process, agent-managed hosts by their agents."""
    agents = AgentHosts(
        factory,
        confirm_seconds=settings.agent_confirm_seconds,
        announce=board.notify_threadsafe if board is not None else None,
    )
    return DispatchingHosts(embedded=EmbeddedHosts(), agent=agents)


def _factory(settings: Settings, migrate: bool) -> SessionFactory:
    url = settings.effective_database_url
    if migrate:
        upgrade(url)
    return make_session_factory(make_engine(url))


def build(
    settings: Settings,
    *,
    role: Literal["all", "api"] = "all",
    run_worker: bool = True,
    migrate: bool = True,
) -> Runtime:
    """The HTTP process: APIs, and an LCM worker for role `all` (`run_worker=False` is the
    same as role `api`)."""
    factory = _factory(settings, migrate)
    board = VersionBoard()
    app = create_app(
        factory,
        host_gateway(settings, factory, board),
        run_worker=run_worker and role == "all",
        lease_seconds=settings.lease_seconds,
        settings=settings,
        board=board,
    )
    return Runtime(settings, factory, app)


def build_worker(settings: Settings, *, migrate: bool = True) -> Worker:
    """The worker role: an LCM worker and nothing else (start it, stop it on a signal)."""
    factory = _factory(settings, migrate)
    return Worker(factory, host_gateway(settings, factory), lease_seconds=settings.lease_seconds)
