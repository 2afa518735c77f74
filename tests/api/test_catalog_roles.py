"""Changing the catalog through SOL005 needs the same roles as through the product API:
an operator admin (published) or a tenant admin (the tenant's own); read-only operators and
tenant users get 403 and nothing is created."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cloudcpe.store.db import SessionFactory
from tests.conftest import bearer
from tests.support import create_tenant, ok
from tests.support_users import make_user

EXPECTED = {"operator_admin": 201, "operator": 403, "tenant_admin": 201, "tenant_user": 403}


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("path", ["/vnfpkgm/v1/vnf_packages", "/nsd/v1/ns_descriptors"])
def test_creating_catalog_resources_needs_a_changing_role(
    client: TestClient, factory: SessionFactory, role: str, path: str
) -> None:
    _, root_token = make_user(factory, "root", "operator_admin")
    tenant = create_tenant(client, bearer(root_token), "acme")
    tenant_id = None if role.startswith("operator") else tenant["id"]
    _, token = make_user(factory, f"me-{role.replace('_', '-')}", role, tenant_id)
    resp = client.post(path, json={}, headers=bearer(token))
    assert resp.status_code == EXPECTED[role], resp.text
    listed = ok(client.get(path, headers=bearer(root_token)))
    assert len(listed) == (1 if EXPECTED[role] == 201 else 0)
