"""Zero-touch activation: a one-time, expiring code; one answer for every refusal; only
hashes stored; nothing assigned on a refusal."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.inventory.models import NfviHost
from cloudcpe.lcm.models import HostDocument
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.conftest import bearer
from tests.support import activate, create_agent_device, create_device, ok

REFUSED = (
    "activation refused: the serial is unknown or the activation code is wrong, already used "
    "or expired"
)


def _host(factory: SessionFactory, device_id: str) -> NfviHost:
    with unit_of_work(factory) as s:
        host = s.get_one(NfviHost, device_id)
        s.expunge(host)
        return host


def _refused(resp: Any) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["detail"] == REFUSED


def test_the_code_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, operator: dict[str, str], device: dict[str, Any], factory: SessionFactory
) -> None:
    code = device["activation_code"]
    assert device["management"] == "agent" and device["activated_at"] is None
    assert device["activation_expires_at"] is not None
    again = ok(client.get(f"/api/v1/devices/{device['id']}", headers=operator))
    assert "activation_code" not in again
    host = _host(factory, device["id"])
    assert host.activation_code_hash and code not in host.activation_code_hash
    assert host.credential_hash is None


def test_activation_gives_identity_and_a_credential_stored_as_a_hash(
    client: TestClient, device: dict[str, Any], factory: SessionFactory
) -> None:
    # people type codes: case and dashes do not matter
    typed = device["activation_code"].lower().replace("-", " ")
    got = ok(activate(client, device["serial"], typed))
    assert (got["host_id"], got["host_key"]) == (device["id"], device["host_key"])
    host = _host(factory, device["id"])
    assert host.activated_at is not None and host.activation_code_hash is None
    assert host.credential_hash and got["credential"] not in host.credential_hash
    # its document exists from now on (version 0: the empty state)
    with unit_of_work(factory) as s:
        assert s.get_one(HostDocument, device["id"]).version == 0


def test_wrong_reused_unknown_and_expired_are_refused_alike_and_assign_nothing(
    client: TestClient,
    operator: dict[str, str],
    device: dict[str, Any],
    factory: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "cloudcpe.inventory.enrolment")
    code = device["activation_code"]
    wrong = "AAAA-BBBB-CCCC-DDDD-EEEE"
    _refused(activate(client, device["serial"], wrong))
    _refused(activate(client, "SN-nobody", code))  # a serial cannot be probed
    host = _host(factory, device["id"])
    assert host.activated_at is None and host.credential_hash is None
    with unit_of_work(factory) as s:
        assert s.get(HostDocument, device["id"]) is None

    ok(activate(client, device["serial"], code))
    before = _host(factory, device["id"])
    _refused(activate(client, device["serial"], code))  # used
    after = _host(factory, device["id"])
    assert (after.credential_hash, after.activated_at) == (
        before.credential_hash,
        before.activated_at,
    )
    reasons = [r.getMessage() for r in caplog.records]
    assert any("wrong activation code" in r for r in reasons)
    assert any("no such serial" in r for r in reasons)
    assert any("already used" in r for r in reasons)
    assert not any(code in r or wrong in r for r in reasons)  # codes are never logged

    url = f"/api/v1/devices/{device['id']}/activation_code"
    fresh = ok(client.post(url, headers=operator), 201)
    with unit_of_work(factory) as s:
        s.get_one(NfviHost, device["id"]).activation_expires_at = utcnow() - timedelta(seconds=1)
    _refused(activate(client, device["serial"], fresh["activation_code"]))
    assert "expired" in caplog.records[-1].getMessage()


def test_a_new_code_invalidates_the_old_and_reactivation_replaces_the_credential(
    client: TestClient, operator: dict[str, str], agent: dict[str, Any]
) -> None:
    device = agent["device"]
    url = f"/api/v1/devices/{device['id']}/activation_code"
    first = ok(client.post(url, headers=operator), 201)
    second = ok(client.post(url, headers=operator), 201)
    assert first["activation_code"] != second["activation_code"]
    _refused(activate(client, device["serial"], first["activation_code"]))
    # the old credential works until a re-activation (a replaced unit) succeeds
    assert client.get("/agent/v1/desired", headers=agent["headers"]).status_code == 200
    new = ok(activate(client, device["serial"], second["activation_code"]))
    assert client.get("/agent/v1/desired", headers=agent["headers"]).status_code == 401
    assert client.get("/agent/v1/desired", headers=bearer(new["credential"])).status_code == 200


def test_codes_are_for_agent_managed_devices_and_operators_only(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], factory: SessionFactory
) -> None:
    from tests.conftest import make_token
    from tests.support import create_site

    embedded = create_device(client, operator, acme["site"]["id"], "lab-cpe", netns="ccpe-x")
    assert embedded["management"] == "embedded" and embedded["activation_code"] is None
    resp = client.post(f"/api/v1/devices/{embedded['id']}/activation_code", headers=operator)
    assert resp.status_code == 409
    _refused(activate(client, embedded["serial"], "AAAA"))

    other_site = create_site(client, operator, acme["tenant"]["id"], "acme-branch", "10.9.0.0/24")
    device = create_agent_device(client, operator, other_site["id"], "branch-cpe")
    tenant = bearer(make_token(factory, "acme-admin", acme["tenant"]["id"]))
    url = f"/api/v1/devices/{device['id']}/activation_code"
    assert client.post(url, headers=tenant).status_code == 403


def test_an_agent_device_cannot_name_a_namespace(
    client: TestClient, operator: dict[str, str], acme: dict[str, Any], factory: SessionFactory
) -> None:
    resp = client.post(
        "/api/v1/devices",
        headers=operator,
        json={
            "name": "cpe",
            "serial": "SN-1",
            "site_id": acme["site"]["id"],
            "wan_address": "203.0.113.2/24",
            "wan_gateway": "203.0.113.1",
            "management": "agent",
            "netns": "ccpe-lab-x",
        },
    )
    assert resp.status_code == 422
    assert [p["name"] for p in resp.json()["invalid_params"]] == ["body.netns"]
    with unit_of_work(factory) as s:
        assert s.scalars(select(NfviHost)).all() == []
