"""SOL005 tenancy: operators see everything; a tenant sees its own objects and what the
operator published; another tenant's id answers 404, exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.store.db import SessionFactory
from tests.api.sol005.conftest import (
    NS_DESCRIPTORS,
    VNF_PACKAGES,
    needs_samples,
    new_nsd,
    new_package,
    onboard_nsd,
    onboard_package,
    problem,
    put_content,
)
from tests.catalog import packages as P
from tests.conftest import bearer, make_token
from tests.support import create_tenant, ok

pytestmark = needs_samples


@pytest.fixture
def world(client: TestClient, operator: dict[str, str], factory: SessionFactory) -> dict[str, Any]:
    out: dict[str, Any] = {"published": onboard_package(client, operator, P.tacker_package())}
    for name in ("acme", "globex"):
        tenant = create_tenant(client, operator, name)
        headers = bearer(make_token(factory, f"{name}-admin", tenant["id"]))
        vnfd_id = f"{name[:4]}0000-0000-4000-8000-000000000000"
        out[name] = {
            "headers": headers,
            "package": onboard_package(client, headers, P.firewall_package(vnfd_id)),
            "nsd": new_nsd(client, headers),
            "vnfd_id": vnfd_id,
        }
    return out


def ids(resp: Any) -> set[str]:
    return {o["id"] for o in ok(resp)}


def test_every_endpoint_needs_a_token(client: TestClient) -> None:
    for path in (VNF_PACKAGES, NS_DESCRIPTORS, "/nsd/api_versions", "/vnfpkgm/v1/api_versions"):
        problem(client.get(path), 401)
    problem(client.get(VNF_PACKAGES, headers=bearer("ccpe_nope")), 401)


def test_lists(client: TestClient, operator: dict[str, str], world: dict[str, Any]) -> None:
    acme, globex, published = world["acme"], world["globex"], world["published"]
    assert ids(client.get(VNF_PACKAGES, headers=acme["headers"])) == {
        published["id"],
        acme["package"]["id"],
    }
    assert ids(client.get(VNF_PACKAGES, headers=operator)) == {
        published["id"],
        acme["package"]["id"],
        globex["package"]["id"],
    }
    assert ids(client.get(NS_DESCRIPTORS, headers=globex["headers"])) == {globex["nsd"]["id"]}


def test_another_tenants_ids_are_not_found(
    client: TestClient, operator: dict[str, str], world: dict[str, Any]
) -> None:
    acme, globex = world["acme"], world["globex"]
    pkg = f"{VNF_PACKAGES}/{globex['package']['id']}"
    nsd = f"{NS_DESCRIPTORS}/{globex['nsd']['id']}"
    h = acme["headers"]
    for resp in (
        client.get(pkg, headers=h),
        client.patch(pkg, json={"userDefinedData": {"x": 1}}, headers=h),
        client.delete(pkg, headers=h),
        client.get(f"{pkg}/package_content", headers=h),
        client.get(f"{pkg}/vnfd", headers=h),
        client.get(f"{pkg}/artifacts/firewall.yaml", headers=h),
        put_content(client, h, f"{pkg}/package_content", P.tacker_package()),
        client.get(nsd, headers=h),
        client.delete(nsd, headers=h),
        put_content(client, h, f"{nsd}/nsd_content", "a: 1", "text/plain"),
    ):
        problem(resp, 404, "not found")
    assert ok(client.get(pkg, headers=operator))["onboardingState"] == "ONBOARDED"
    assert ok(client.get(nsd, headers=operator))["nsdOnboardingState"] == "CREATED"


def test_published_objects_are_seen_not_changed_by_tenants(
    client: TestClient, operator: dict[str, str], world: dict[str, Any]
) -> None:
    h = world["acme"]["headers"]
    path = f"{VNF_PACKAGES}/{world['published']['id']}"
    assert ok(client.get(path, headers=h))["vnfProductName"] == "Sample VNF"
    assert client.get(f"{path}/package_content", headers=h).status_code == 200
    problem(client.patch(path, json={"operationalState": "DISABLED"}, headers=h), 403, "operator")
    problem(client.delete(path, headers=h), 403)


def test_nsds_use_own_and_published_packages_only(
    client: TestClient, operator: dict[str, str], world: dict[str, Any]
) -> None:
    acme, globex = world["acme"], world["globex"]
    hello = "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
    mine = onboard_nsd(client, acme["headers"], P.service_nsd(("a", acme["vnfd_id"]), ("h", hello)))
    assert set(mine["vnfPkgIds"]) == {acme["package"]["id"], world["published"]["id"]}
    nsd = new_nsd(client, acme["headers"])
    text = P.service_nsd(("g", globex["vnfd_id"]))
    resp = put_content(
        client, acme["headers"], f"{NS_DESCRIPTORS}/{nsd['id']}/nsd_content", text, "text/plain"
    )
    problem(resp, 400, "not onboarded", globex["vnfd_id"])
    # an operator's (published) NSD may not use a tenant's private package
    nsd = new_nsd(client, operator)
    text = P.service_nsd(("a", acme["vnfd_id"]), nsd_id="22222222-0000-4000-8000-000000000000")
    resp = put_content(
        client, operator, f"{NS_DESCRIPTORS}/{nsd['id']}/nsd_content", text, "text/plain"
    )
    problem(resp, 400, "not onboarded", acme["vnfd_id"])


def test_vnfd_ids_are_unique_in_what_a_tenant_sees(
    client: TestClient, operator: dict[str, str], world: dict[str, Any]
) -> None:
    acme, globex = world["acme"], world["globex"]
    # globex may onboard a VNFD id acme uses privately: neither sees the other's
    onboard_package(client, globex["headers"], P.firewall_package(acme["vnfd_id"]))
    # acme may not onboard a second package of its own VNFD
    pkg = new_package(client, acme["headers"])
    resp = put_content(
        client, acme["headers"], f"{VNF_PACKAGES}/{pkg['id']}/package_content",
        P.firewall_package(acme["vnfd_id"]),
    )  # fmt: skip
    problem(resp, 409, "already onboarded")
