"""Users, API tokens and the audit log."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from cloudcpe.api.deps import PrincipalDep, SessionDep
from cloudcpe.auth import audit, schemas, users
from cloudcpe.auth import service as tokens
from cloudcpe.auth.models import User
from cloudcpe.errors import Forbidden

router = APIRouter(tags=["users"])


@router.get("/users", response_model=list[schemas.UserPublic])
def list_users(session: SessionDep, who: PrincipalDep) -> object:
    return users.list_users(session, who)


@router.post("/users", response_model=schemas.UserPublic, status_code=201)
def create_user(data: schemas.UserCreate, session: SessionDep, who: PrincipalDep) -> object:
    return users.create_user(session, who, data)


@router.get("/users/{user_id}", response_model=schemas.UserPublic)
def get_user(user_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return users.get_user(session, who, user_id)


@router.patch("/users/{user_id}", response_model=schemas.UserPublic)
def update_user(
    user_id: str, data: schemas.UserUpdate, session: SessionDep, who: PrincipalDep
) -> object:
    return users.update_user(session, who, user_id, data)


@router.get("/tokens", response_model=list[schemas.TokenPublic])
def list_tokens(session: SessionDep, who: PrincipalDep) -> object:
    return tokens.list_tokens(session, who)


@router.post("/tokens", response_model=schemas.TokenCreated, status_code=201)
def create_token(data: schemas.TokenCreate, session: SessionDep, who: PrincipalDep) -> object:
    """A token of the calling user, acting with that user's role (shown once)."""
    if who.user_id is None:
        raise Forbidden("only a user's session or token can create user tokens")
    user = session.get_one(User, who.user_id)
    expires = timedelta(days=data.expires_in_days) if data.expires_in_days else None
    secret, row = tokens.issue_user_token(session, user, data.name, expires)
    return {**schemas.TokenPublic.model_validate(row).model_dump(), "token": secret}


@router.delete("/tokens/{token_id}", response_model=schemas.TokenPublic)
def revoke_token(token_id: str, session: SessionDep, who: PrincipalDep) -> object:
    return tokens.revoke_token(session, who, token_id)


@router.get("/audit", response_model=list[schemas.AuditEntryPublic])
def list_audit(session: SessionDep, who: PrincipalDep, limit: int = 200) -> object:
    return audit.list_entries(session, who, min(max(limit, 1), 1000))
