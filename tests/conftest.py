"""Shared pytest fixtures for the cloudcpe test suite."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from cloudcpe.agent.board import VersionBoard
    from cloudcpe.config import Settings
    from cloudcpe.lcm.hosts import HostGateway
    from cloudcpe.store.db import SessionFactory

# --- PostgreSQL ---
# Which database the suite runs on. `make test` runs pytest twice: once with nothing set
# (SQLite, a temporary file per session), once with CLOUDCPE_TEST_DATABASE_URL pointing at
# the throwaway cluster of scripts/postgres.sh, e.g.
#   postgresql+psycopg://postgres@/cloudcpe_test?host=/tmp/cloudcpe-pg
# To run against PostgreSQL by hand:
#   scripts/postgres.sh start
#   CLOUDCPE_TEST_DATABASE_URL=$(scripts/postgres.sh url) .venv/bin/pytest -m "not kernel"
#   scripts/postgres.sh stop

TEST_DATABASE_URL_ENV = "CLOUDCPE_TEST_DATABASE_URL"

_log = logging.getLogger("cloudcpe.tests")


def _configured_database_url() -> str | None:
    return os.environ.get(TEST_DATABASE_URL_ENV) or None


def _describe(url: str) -> str:
    """The URL with any password hidden, for logs and the report header."""
    return make_url(url).render_as_string(hide_password=True)


def pytest_report_header(config: pytest.Config) -> str:
    url = _configured_database_url()
    if url:
        backend = make_url(url).get_backend_name()
        return f"database: {backend} ({_describe(url)}, from {TEST_DATABASE_URL_ENV})"
    return f"database: sqlite (a temporary file per session; {TEST_DATABASE_URL_ENV} not set)"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLAlchemy URL of the database the tests use.

    CLOUDCPE_TEST_DATABASE_URL when set (PostgreSQL in `make test`), else a SQLite file in
    a pytest temporary directory.
    """
    url = _configured_database_url()
    if url:
        _log.info("test database from %s: %s", TEST_DATABASE_URL_ENV, _describe(url))
        return url
    path: Path = tmp_path_factory.mktemp("db") / "cloudcpe.sqlite3"
    url = f"sqlite:///{path}"
    _log.info("test database: %s", url)
    return url


# --- Application ---
# One schema per session (built by the real Alembic migrations), emptied before each test.


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    from cloudcpe.store.migrate import upgrade

    if not database_url.startswith("sqlite"):
        _reset_schema(database_url)
    upgrade(database_url)
    return database_url


def _reset_schema(url: str) -> None:
    from sqlalchemy import text

    from cloudcpe.store.db import make_engine

    engine = make_engine(url, pooled=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def factory(migrated_url: str) -> Iterator[SessionFactory]:
    from cloudcpe.store.base import Base
    from cloudcpe.store.db import make_engine, make_session_factory

    engine = make_engine(migrated_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def board() -> VersionBoard:
    """Where agents' long-polls wait in the test app; the gateway announces versions to it."""
    from cloudcpe.agent.board import VersionBoard

    return VersionBoard()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of the app under test: its data directory (package storage) is per test, and
    a short agent confirmation timeout (no test waits 30 s for an absent agent)."""
    from cloudcpe.config import Settings

    return Settings(data_dir=tmp_path / "data", agent_confirm_seconds=3)


@pytest.fixture
def hosts(factory: SessionFactory, board: VersionBoard, settings: Settings) -> HostGateway:
    """As `serve` wires it: embedded hosts in-process, agent-managed hosts by their agents."""
    from cloudcpe.runtime import host_gateway

    return host_gateway(settings, factory, board)


@pytest.fixture
def client(
    factory: SessionFactory, hosts: HostGateway, board: VersionBoard, settings: Settings
) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    app = create_app(factory, hosts, lease_seconds=5, settings=settings, board=board)
    with TestClient(app) as c:
        yield c


def make_token(factory: SessionFactory, name: str, tenant_id: str | None = None) -> str:
    from cloudcpe.auth.service import create_token
    from cloudcpe.inventory.models import Tenant
    from cloudcpe.store.db import unit_of_work

    with unit_of_work(factory) as s:
        tenant = s.get(Tenant, tenant_id) if tenant_id else None
        return create_token(s, name, tenant)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def operator(factory: SessionFactory) -> dict[str, str]:
    """Headers of an operator token."""
    return bearer(make_token(factory, "test-operator"))


# --- Leak check ---
# Whatever a test made in the kernel must be gone when the session ends, also after
# failures: every project object carries the `ccpe` prefix, so a listing finds leftovers.


def _ccpe_kernel_objects() -> set[str]:
    import json
    import subprocess

    found: set[str] = set()
    for args, key in ((["ip", "-j", "netns", "list"], "name"), (["ip", "-j", "link"], "ifname")):
        try:
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        found |= {o[key] for o in json.loads(out or "[]") if o.get(key, "").startswith("ccpe")}
    return found


@pytest.fixture(scope="session", autouse=True)
def no_kernel_leaks() -> Iterator[None]:
    """Fails the run in CI, where this suite is alone on the machine. Elsewhere another run
    (another checkout's suite, a demo) may own new objects too, so it only warns there; the
    kernel tests' own fixtures check their objects exactly either way."""
    before = _ccpe_kernel_objects()
    yield
    left = _ccpe_kernel_objects() - before
    message = f"the test session left ccpe kernel objects behind: {sorted(left)}"
    if left and os.environ.get("CI"):
        pytest.fail(message)
    if left:
        import warnings

        warnings.warn(message + " (or another run on this machine made them)", stacklevel=1)
