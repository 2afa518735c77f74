"""Users, tokens (expiry, revocation), and the audit log written with each change."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from cloudcpe.auth.models import User
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.conftest import bearer
from tests.support import create_site, create_tenant, ok
from tests.support_users import make_user


def test_expired_revoked_and_disabled_tokens_are_refused(
    client: TestClient, factory: SessionFactory
) -> None:
    from cloudcpe.auth.service import issue_user_token

    uid, token = make_user(factory, "ann", "operator_admin")
    ok(client.get("/api/v1/sites", headers=bearer(token)))
    with unit_of_work(factory) as s:
        expired, _ = issue_user_token(s, s.get_one(User, uid), "old", timedelta(seconds=-1))
    assert client.get("/api/v1/sites", headers=bearer(expired)).status_code == 401
    mine = ok(client.post("/api/v1/tokens", headers=bearer(token), json={"name": "x"}), 201)
    assert mine["expires_at"] is not None
    ok(client.get("/api/v1/sites", headers=bearer(mine["token"])))
    ok(client.delete(f"/api/v1/tokens/{mine['id']}", headers=bearer(token)))
    assert client.get("/api/v1/sites", headers=bearer(mine["token"])).status_code == 401
    other_id, other = make_user(factory, "bob", "operator")
    ok(client.patch(f"/api/v1/users/{other_id}", headers=bearer(token), json={"disabled": True}))
    assert client.get("/api/v1/sites", headers=bearer(other)).status_code == 401


def test_every_change_is_audited_with_who_what_where(
    client: TestClient, factory: SessionFactory
) -> None:
    _, token = make_user(factory, "ann", "operator_admin")
    root = bearer(token)
    acme = create_tenant(client, root, "acme")
    globex = create_tenant(client, root, "globex")
    site = create_site(client, root, acme["id"], "acme-hq")
    create_site(client, root, globex["id"], "globex-hq", "192.168.20.0/24")
    entries = ok(client.get("/api/v1/audit", headers=root))
    mine = [e for e in entries if e["object_id"] == site["id"]]
    assert len(mine) == 1
    entry = mine[0]
    assert entry["actor"] == "ann"
    assert entry["actor_role"] == "operator_admin"
    assert entry["change"] == "create"
    assert entry["object_type"] == "Site"
    assert entry["request"] == "POST /api/v1/sites"
    assert entry["source"] == "testclient"
    assert entry["tenant_id"] == acme["id"]
    # a tenant admin sees their tenant's entries only
    _, t_token = make_user(factory, "acme-boss", "tenant_admin", acme["id"])
    seen = ok(client.get("/api/v1/audit", headers=bearer(t_token)))
    assert seen and {e["tenant_id"] for e in seen} == {acme["id"]}
    # a refused change leaves no entry
    before = len(ok(client.get("/api/v1/audit", headers=root)))
    bad = client.post("/api/v1/sites", headers=root, json={"name": "x", "lan_prefix": "1.2.3.0/24"})
    assert bad.status_code == 422
    assert len(ok(client.get("/api/v1/audit", headers=root))) == before


def test_user_passwords_are_hashed_with_argon2(factory: SessionFactory) -> None:
    from cloudcpe.auth.users import authenticate
    from tests.support_users import PASSWORD

    make_user(factory, "ann", "operator_admin")
    with unit_of_work(factory) as s:
        user = authenticate(s, "ann", PASSWORD)
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert authenticate(s, "ann", "wrong-password") is None
        assert authenticate(s, "nobody", PASSWORD) is None
