"""OAuth 2.0 client credentials: operators create clients; a client's short-lived bearer
token works on every API with the client's role and tenant, and stops with the client."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from cloudcpe.auth.oauth2 import OAuth2Token
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.conftest import bearer, make_token
from tests.support import create_site, create_tenant, ok

TOKEN = "/oauth2/token"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def get_token(client: TestClient, made: dict[str, Any]) -> dict[str, str]:
    resp = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic(made["id"], made["client_secret"]),
    )
    body = ok(resp)
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 300
    assert resp.headers["cache-control"] == "no-store"
    return bearer(body["access_token"])


def test_client_credentials(
    client: TestClient, operator: dict[str, str], factory: SessionFactory
) -> None:
    acme = create_tenant(client, operator, "acme")
    globex = create_tenant(client, operator, "globex")
    create_site(client, operator, acme["id"], "acme-hq")
    create_site(client, operator, globex["id"], "globex-hq")
    body = {"name": "acme-oss", "role": "tenant_admin", "tenant_id": acme["id"]}
    made = ok(client.post("/api/v1/oauth2_clients", json=body, headers=operator), 201)
    assert made["client_secret"]
    assert "client_secret" not in ok(client.get("/api/v1/oauth2_clients", headers=operator))[0]

    # a tenant token cannot make clients
    tenant_token = bearer(make_token(factory, "acme-admin", acme["id"]))
    other = {"name": "x", "role": "operator_admin"}
    assert client.post("/api/v1/oauth2_clients", json=other, headers=tenant_token).status_code in (
        403,
        404,
    )
    bad = {"name": "y", "role": "tenant_user"}
    ok(client.post("/api/v1/oauth2_clients", json=bad, headers=operator), 422)

    h = get_token(client, made)
    sites = ok(client.get("/api/v1/sites", headers=h))
    assert [s["name"] for s in sites] == ["acme-hq"]  # the client's tenant only
    ok(client.get("/nslcm/v1/ns_instances", headers=h))  # SOL005 APIs too
    ok(client.get("/vnfpkgm/v1/vnf_packages", headers=h))

    # wrong secret, wrong grant, no credentials
    wrong = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic(made["id"], "nope")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert "Basic" in wrong.headers["www-authenticate"]
    grant = client.post(
        TOKEN, data={"grant_type": "password"}, headers=basic(made["id"], made["client_secret"])
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert client.post(TOKEN, data={"grant_type": "client_credentials"}).status_code == 401

    # expired tokens stop; disabling the client stops its tokens
    h2 = get_token(client, made)
    with unit_of_work(factory) as s:
        s.execute(update(OAuth2Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/sites", headers=h).status_code == 401
    h3 = get_token(client, made)
    ok(client.get("/api/v1/sites", headers=h3))
    ok(client.delete(f"/api/v1/oauth2_clients/{made['id']}", headers=operator))
    assert client.get("/api/v1/sites", headers=h3).status_code == 401
    assert h2 != h3
    refused = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic(made["id"], made["client_secret"]),
    )
    assert refused.status_code == 401
