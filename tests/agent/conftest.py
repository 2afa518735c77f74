"""Fixtures of the agent protocol tests: a site with an agent-managed device."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.lcm.models import HostDocument
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.conftest import bearer
from tests.support import activate, create_agent_device, create_site, create_tenant, ok


@pytest.fixture
def acme(client: TestClient, operator: dict[str, str]) -> dict[str, Any]:
    tenant = create_tenant(client, operator, "acme")
    site = create_site(client, operator, tenant["id"], "acme-hq")
    return {"tenant": tenant, "site": site}


@pytest.fixture
def device(client: TestClient, operator: dict[str, str], acme: dict[str, Any]) -> dict[str, Any]:
    """A registered, not yet activated agent-managed device (with its activation code)."""
    return create_agent_device(client, operator, acme["site"]["id"], "acme-cpe")


@pytest.fixture
def agent(client: TestClient, device: dict[str, Any]) -> dict[str, Any]:
    """The device activated: its identity, and `headers` carrying the agent credential."""
    got = ok(activate(client, device["serial"], device["activation_code"]))
    return {**got, "headers": bearer(got["credential"]), "device": device}


def publish(factory: SessionFactory, host_id: str, namespaces: int = 0) -> int:
    """A new desired version for a host, written straight to the database as an LCM worker
    in another process would (nobody in this process is told). Returns the version."""
    with unit_of_work(factory) as s:
        doc = s.get_one(HostDocument, host_id)
        desired = HostDesiredState.model_validate(doc.desired)
        version = doc.version + 1
        doc.version = version
        doc.desired = desired.model_copy(update={"version": version}).model_dump(mode="json")
        doc.updated_at = utcnow()
        return version


def observed(host_key: str, version: int, state: str = "running") -> dict[str, Any]:
    return {
        "host": host_key,
        "version": version,
        "functions": [{"owner": "vnf-1", "namespace": f"ccpe-{host_key}-f", "state": state}],
    }
