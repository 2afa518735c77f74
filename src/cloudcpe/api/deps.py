"""Request dependencies: one unit of work per request, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.auth.service import resolve
from cloudcpe.catalog.storage import CatalogConfig
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


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    principal = resolve(session, creds.credentials) if creds else None
    if principal is None:
        raise HTTPException(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


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
