"""Wiring of one orchestrator process: settings -> database -> hosts -> app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.api.app import create_app
from cloudcpe.config import Settings
from cloudcpe.store.db import SessionFactory, make_engine, make_session_factory
from cloudcpe.store.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    factory: SessionFactory
    app: FastAPI


def build(settings: Settings, *, run_worker: bool = True, migrate: bool = True) -> Runtime:
    url = settings.effective_database_url
    if migrate:
        upgrade(url)
    factory = make_session_factory(make_engine(url))
    app = create_app(
        factory,
        EmbeddedHosts(),
        run_worker=run_worker,
        lease_seconds=settings.lease_seconds,
        settings=settings,
    )
    return Runtime(settings, factory, app)
