"""Request dependencies: one unit of work per request, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloudcpe.auth.audit import Actor, attach
from cloudcpe.auth.principal import Principal
from cloudcpe.auth.service import resolve
from cloudcpe.catalog.storage import CatalogConfig
from cloudcpe.config import Settings
from cloudcpe.lcm.engine import Worker
from cloudcpe.store.db import SessionFactory

_bearer = HTTPBearer(auto_error=False, description="an API token from `cloudcpe token create`")


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the endpoint returns, else rolled back."""
    factory: SessionFactory = request.app.state.session_factory
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the unit of work commits when the endpoint returns, *before* the response
# goes out. With the default ("request") a client could act on a 201 whose row was not
# committed yet, or get a 201 for a transaction that then failed to commit; and a long
# response (a page's event stream) would hold a database connection.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = resolve(session, creds.credentials) if creds else None
    if principal is None:
        raise HTTPException(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    attach(session, Actor(principal, client_address(request), request_label(request)))
    return principal


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def request_label(request: Request) -> str:
    return f"{request.method} {request.url.path}"


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_worker(request: Request) -> Worker | None:
    worker: Worker | None = request.app.state.worker
    return worker


WorkerDep = Annotated[Worker | None, Depends(get_worker)]


def get_factory(request: Request) -> SessionFactory:
    """For work in several transactions of its own (package onboarding steps)."""
    factory: SessionFactory = request.app.state.session_factory
    return factory


FactoryDep = Annotated[SessionFactory, Depends(get_factory)]


def get_catalog(request: Request) -> CatalogConfig:
    catalog: CatalogConfig = request.app.state.catalog
    return catalog


CatalogDep = Annotated[CatalogConfig, Depends(get_catalog)]


def get_page_size(request: Request) -> int:
    size: int = request.app.state.sol005_page_size
    return size


PageSizeDep = Annotated[int, Depends(get_page_size)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
