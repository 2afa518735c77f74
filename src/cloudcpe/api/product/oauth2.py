"""OAuth 2.0 client credentials: `POST /oauth2/token` and the operators' client management
(`/api/v1/oauth2_clients`). Thin over auth/oauth2.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, Response
from fastapi.responses import JSONResponse

from cloudcpe.api.deps import PrincipalDep, SessionDep
from cloudcpe.auth import oauth2
from cloudcpe.auth.oauth2 import OAuth2ClientCreate, OAuth2ClientCreated, OAuth2ClientPublic

router = APIRouter(tags=["oauth2"])
token_router = APIRouter(tags=["oauth2"])


@router.post("/oauth2_clients", response_model=OAuth2ClientCreated, status_code=201)
def create_client(data: OAuth2ClientCreate, session: SessionDep, who: PrincipalDep) -> object:
    """A machine client with a role (and tenant, for a tenant role); operator admins only.
    The `client_secret` is shown once."""
    client, secret = oauth2.create_client(session, who, data)
    public = OAuth2ClientPublic.model_validate(client)
    return OAuth2ClientCreated(**public.model_dump(), client_secret=secret)


@router.get("/oauth2_clients", response_model=list[OAuth2ClientPublic])
def list_clients(session: SessionDep, who: PrincipalDep) -> object:
    return oauth2.list_clients(session, who)


@router.delete("/oauth2_clients/{client_id}", response_model=OAuth2ClientPublic)
def disable_client(client_id: str, session: SessionDep, who: PrincipalDep) -> object:
    """Disables the client: its tokens stop working at once."""
    return oauth2.disable_client(session, who, client_id)


@token_router.post("/oauth2/token")
def token(
    session: SessionDep,
    grant_type: Annotated[str | None, Form()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """RFC 6749 4.4: `grant_type=client_credentials` (form), the client's id and secret by
    HTTP Basic; answers a bearer token valid for `expires_in` seconds."""
    try:
        body = oauth2.issue_token(session, authorization, grant_type)
    except oauth2.OAuth2Error as exc:
        headers = {"WWW-Authenticate": 'Basic realm="cloudcpe"'} if exc.status == 401 else {}
        headers["Cache-Control"] = "no-store"
        error = {"error": exc.code, "error_description": exc.detail}
        return JSONResponse(error, exc.status, headers=headers)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
